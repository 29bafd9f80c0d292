"""Session-wide checks: the whole suite runs under the offline guard (tests/offline_guard), and
with ``OCTCONV_REQUIRE_ALL_TESTS=1`` (set by ``.ci/run``) a skipped test is a failure: on the CI
machine every optional dependency is installed, so a skip there means a test that did not run."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

GUARD_DIR = Path(__file__).resolve().parent / "offline_guard"
REQUIRE_ALL = "OCTCONV_REQUIRE_ALL_TESTS"


def _fail_if_skipped(report) -> None:
    if report.skipped and os.environ.get(REQUIRE_ALL) == "1" and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, but {REQUIRE_ALL}=1 requires every test to run here: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_if_skipped(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_if_skipped(outcome.get_result())  # a whole module skipped at import


@pytest.fixture(scope="session", autouse=True)
def offline_guard(tmp_path_factory):
    """No test, nor any process it starts, may install a package or reach the network."""
    log = tmp_path_factory.mktemp("offline") / "violations.log"
    log.touch()
    saved = {key: os.environ.get(key) for key in ("OCTCONV_OFFLINE_LOG", "PYTHONPATH")}
    os.environ["OCTCONV_OFFLINE_LOG"] = str(log)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(GUARD_DIR), saved["PYTHONPATH"]]))
    import importlib.util

    spec = importlib.util.spec_from_file_location("offline_guard", GUARD_DIR / "sitecustomize.py")
    guard = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(guard)  # installs the in-process wrappers
    yield guard
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    violations = log.read_text().strip()
    assert not violations, f"run-time installs or network access during the tests:\n{violations}"


# One short train.py run of the default digits model (Oct-MobileNet width 0.25, 10 classes, chance
# 10%), shared by the eval.py and INT8 tests: each module trained its own, a minute of CI apiece.
DIGITS_EVAL_SAMPLES = 128
DIGITS_RUN_FLAGS = ["--eval-samples", str(DIGITS_EVAL_SAMPLES), "--train-samples", "512",
                    "--batch-size", "16", "--lr", "1.6", "--warmup-epochs", "0.5", "--epochs", "6"]


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """(run folder, what train.py printed) of ``train.py DIGITS_RUN_FLAGS``: trained to ~85 %,
    clearly above chance so that equal top-1 figures mean the weights were loaded, and strong
    enough for INT8 (a weaker model has so many near-tied logits that INT8 noise flips >10 % of
    its top-1s)."""
    import contextlib
    import io

    import train

    run_dir = tmp_path_factory.mktemp("digits") / "run"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert train.main([*DIGITS_RUN_FLAGS, "--log-dir", str(run_dir)]) == 0
    return run_dir, out.getvalue()
