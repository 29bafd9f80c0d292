"""Settings: precedence of the sources, YAML files, type and range checks, locked keys."""
import pytest

from octconv_engine.config import DATA_PRESETS, RECIPES, RunConfig, resolve_config
from octconv_engine.errors import UsageError


def test_defaults_are_the_digits_main_job():
    cfg = resolve_config({})
    assert (cfg.data, cfg.model, cfg.width_mult, cfg.small_input) == ("digits", "oct_mobilenet", 0.25, True)
    assert (cfg.optimizer, cfg.schedule, cfg.label_smoothing) == ("sgd", "cosine", 0.1)
    # digits' measured tweaks of the paper recipe
    assert cfg.lr == DATA_PRESETS["digits"].recipe_overrides["paper"]["lr"]


def test_precedence_cli_over_file_over_preset_over_recipe(tmp_path):
    file = tmp_path / "run.yaml"
    file.write_text("lr: 0.05\nbatch-size: 8\nweight_decay: 0.0\n")
    cfg = resolve_config({"lr": 0.3}, config_file=str(file))
    assert cfg.lr == 0.3                     # command line beats the file
    assert cfg.batch_size == 8               # the file beats the data-set preset
    assert cfg.weight_decay == 0.0           # the file beats the recipe
    assert cfg.momentum == RECIPES["paper"]["momentum"]


def test_adam_recipe_and_other_data_set():
    cfg = resolve_config({"recipe": "adam", "data": "cifar10"})
    assert (cfg.optimizer, cfg.lr, cfg.schedule, cfg.warmup_epochs) == ("adam", 1e-3, "constant", 0.0)
    assert cfg.model == DATA_PRESETS["cifar10"].model and cfg.width_mult is None


def test_preset_model_options_only_apply_to_the_preset_model():
    assert resolve_config({"model": "oct_resnet26"}).width_mult is None
    assert resolve_config({"model": "oct_mobilenet"}, model_preset=False).width_mult is None


@pytest.mark.parametrize("content, message", [
    ("lrr: 0.1\n", "unknown setting 'lrr'"),
    ("lr: fast\n", "lr must be a float"),
    ("- 1\n- 2\n", "expected a YAML mapping"),
    ("data: mnist\n", "data must be one of"),
    ("epochs: [1\n", "not valid YAML"),
])
def test_bad_config_files(tmp_path, content, message):
    file = tmp_path / "bad.yaml"
    file.write_text(content)
    with pytest.raises(UsageError, match=message):
        resolve_config({}, config_file=str(file))


def test_missing_config_file(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        resolve_config({}, config_file=str(tmp_path / "nope.yaml"))


@pytest.mark.parametrize("key, value", [("epochs", 0), ("lr", -1.0), ("alpha", 1.0),
                                        ("label_smoothing", 1.0), ("batch_size", 0)])
def test_validate_ranges(key, value):
    with pytest.raises(UsageError, match=f"--{key.replace('_', '-')} must be"):
        resolve_config({key: value}).validate()


def test_saved_settings_are_the_base_and_locked_keys_cannot_change():
    saved = resolve_config({"epochs": 3, "alpha": 0.25}).to_dict()
    assert resolve_config({"epochs": 5}, saved=saved).epochs == 5
    assert resolve_config({}, saved=saved).alpha == 0.25
    with pytest.raises(UsageError, match="alpha is 0.25 in the checkpoint"):
        resolve_config({"alpha": 0.5}, saved=saved, locked=("alpha",))


def test_every_field_has_a_flag():
    from octconv_engine.cli import FLAGS

    assert set(FLAGS) == set(RunConfig.__dataclass_fields__)


def test_device_gpu_without_cuda_is_a_usage_error_and_cpu_works():
    import paddle

    from octconv_engine.runtime import select_device

    assert select_device("cpu") == "cpu"
    if paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0:
        assert select_device("gpu").startswith("gpu")
    else:
        with pytest.raises(UsageError, match=r"--device gpu: .*; use --device cpu"):
            select_device("gpu")
        assert select_device("auto") == "cpu"
