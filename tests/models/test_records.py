"""The variant records: figures measured exactly, published figures in their rounding, the plain
twins of paddle.vision counted independently, and everything that reads the records."""
from pathlib import Path

import paddle
import pytest

import models
from models.records import VARIANTS, Published, in_published_rounding, markdown_table
from paddle_octconv import count_flops, count_params

IMAGE = (1, 3, 224, 224)
README = Path(__file__).resolve().parents[2] / "README.md"
HEAVY = {"oct_resnet101", "oct_resnet152", "oct_resnet200", "oct_resnext101_32x4d"}
slow = pytest.mark.slow


def by_weight(names):
    return [pytest.param(n, marks=slow) if n in HEAVY else n for n in names]


def counts(model):
    return count_params(model), count_flops(model, IMAGE)


@pytest.mark.parametrize("name", by_weight(VARIANTS))
def test_default_build_has_the_recorded_figures(name):
    record = VARIANTS[name]
    assert counts(models.create_model(name)) == (record.params, record.macs)
    assert counts(models.create_model(name, alpha=0.0)) == (record.params, record.plain_macs)


PUBLISHED = [(name, i) for name, record in VARIANTS.items()
             for i, result in enumerate(record.published)
             if result.measured is not None and dict(result.options) != {"alpha": record.alpha}]


@pytest.mark.parametrize("name, index", [
    pytest.param(n, i, marks=slow) if n in HEAVY else (n, i) for n, i in PUBLISHED])
def test_published_options_have_the_recorded_figures(name, index):
    """Each published configuration other than the default build, measured exactly."""
    result = VARIANTS[name].published[index]
    assert counts(models.create_model(name, **result.options)) == result.measured


@pytest.mark.parametrize("name", VARIANTS)
def test_published_figures_are_reproduced_or_the_difference_is_explained(name):
    record = VARIANTS[name]
    for result in record.published:
        if result.params is None and result.macs is None:
            continue  # top-1 only
        if result.measured is not None and dict(result.options) == {"alpha": record.alpha}:
            assert result.measured == (record.params, record.macs)
        # an explanation exactly where a figure is not reproduced (a stale one fails too)
        assert result.reproduced() == (not result.differs), result


def test_the_issue_figures():
    """The integers the issue gives (counted here on paddle.vision's models) and published ones."""
    assert in_published_rounding("25.557M", VARIANTS["oct_resnet50"].params) == "25.557M"
    assert in_published_rounding("2.367G", VARIANTS["oct_resnet50"].macs) == "2.367G"
    assert (VARIANTS["oct_resnext50_32x4d"].params,
            VARIANTS["oct_resnext50_32x4d"].plain_macs) == (25_028_904, 4_230_479_872)
    assert (VARIANTS["oct_resnext101_32x4d"].params,
            VARIANTS["oct_resnext101_32x4d"].plain_macs) == (44_177_704, 7_969_996_800)
    assert (VARIANTS["oct_mobilenet_v2"].params,
            VARIANTS["oct_mobilenet_v2"].plain_macs) == (3_504_872, 300_774_272)
    official = {tuple(sorted(r.options.items())): r for r in VARIANTS["oct_mobilenet_v2"].published}
    v2_100 = official[(("alpha", 0.375), ("layout", "official"), ("width_mult", 1.0))]
    v2_1125 = official[(("alpha", 0.5), ("layout", "official"), ("width_mult", 1.125))]
    assert (v2_100.params, v2_100.macs, v2_1125.params, v2_1125.macs) == ("3.5M", "256M", "4.2M",
                                                                          "295M")
    assert in_published_rounding("3.5M", v2_100.measured[0]) == "3.5M"
    assert in_published_rounding("4.2M", v2_1125.measured[0]) == "4.2M"
    # Issue 15: the plug-in ResNet-50s as counted on their references' own code.
    assert (VARIANTS["sp_resnet50"].params, VARIANTS["sp_resnet50"].macs) == (18_345_448, 2_907_439_104)
    assert VARIANTS["od_resnet50"].params == 28_635_112
    assert VARIANTS["od_resnet50"].macs - VARIANTS["oct_resnet50"].plain_macs == 3_031_728


@pytest.mark.parametrize("name", by_weight(n for n, r in VARIANTS.items() if r.plain_twin))
def test_alpha_zero_counts_equal_the_paddle_vision_twin(name):
    record = VARIANTS[name]
    twin = getattr(paddle.vision.models, record.plain_twin)()
    assert counts(twin) == (record.params, record.plain_macs)


def test_in_published_rounding():
    assert in_published_rounding("25.557M", 25_557_032) == "25.557M"
    assert in_published_rounding("256M", 247_621_424) == "248M"
    assert in_published_rounding("2.4G", 2_386_511_872) == "2.4G"
    with pytest.raises(ValueError, match="looks like '25.557M'"):
        in_published_rounding("25,557,032", 1)


def test_published_reproduced_and_describe():
    result = Published({"alpha": 0.5}, VARIANTS["oct_resnet50"].published[0].source, 77.0,
                       "25.6M", "2.4G", (25_557_032, 2_367_143_936))
    assert result.reproduced()
    assert "alpha=0.5, 25.6M params, 2.4G MACs, top-1 77.0" in result.describe()
    wrong = Published({"alpha": 0.5}, result.source, params="25.5M", measured=(25_557_032, 0),
                      differs="a reason")
    assert not wrong.reproduced() and "measured here 25,557,032 params" in wrong.describe()


def test_readme_model_table_is_the_records_table():
    assert markdown_table() in README.read_text(), (
        "the README model table is stale: replace it with the output of "
        "python -c 'from models.records import markdown_table; print(markdown_table())'")


def test_docstrings_hub_and_registry_read_the_records():
    for name, record in VARIANTS.items():
        doc = models.get_model_builder(name).__doc__
        assert doc == record.docstring
        assert f"{record.params:,} params, {record.macs:,} MACs" in doc
        assert f"{record.params / 1e6:.1f}M params" in doc.splitlines()[0]
    assert list(VARIANTS["oct_resnext50_32x4d"].arch.items())[:1] == [("layers", (3, 4, 6, 3))]


def test_weights_read_the_records():
    from models import weights

    assert weights.PUBLISHED_CHECKPOINTS == {
        name: record.checkpoint for name, record in VARIANTS.items() if record.checkpoint}
    assert set(weights.PUBLISHED_CHECKPOINTS) == {"oct_resnet50", "oct_resnet101",
                                                  "oct_resnet152", "oct_mobilenet"}


def test_foreign_checkpoints_are_named_when_missing(tmp_path, monkeypatch):
    from models import weights

    monkeypatch.setenv(weights.ENV_CACHE_DIR, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="is an MXNet network of another layout") as info:
        models.oct_resnext50_32x4d(pretrained=True)
    assert VARIANTS["oct_resnext50_32x4d"].foreign_checkpoint in str(info.value)
    assert str(tmp_path / "oct_resnext50_32x4d.pdparams") in str(info.value)
