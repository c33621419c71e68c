"""The package's public surface: ``scoring.__all__`` names what a program may rely on."""
import subprocess
import sys

import scoring


def test_every_public_name_resolves_and_errors_share_one_root():
    for name in scoring.__all__:
        assert getattr(scoring, name) is not None, name
    errors = [n for n in scoring.__all__ if n.endswith("Error")]
    assert len(errors) == 7
    assert all(issubclass(getattr(scoring, n), scoring.ScoringError) for n in errors)
    assert set(scoring.__all__) <= set(dir(scoring))


def test_an_unknown_name_is_an_attribute_error():
    try:
        scoring.no_such_thing  # noqa: B018
    except AttributeError as e:
        assert "no_such_thing" in str(e)
    else:
        raise AssertionError("scoring.no_such_thing resolved")


def test_importing_the_package_loads_no_data_library():
    code = "import sys, scoring; print(sorted(m for m in ('pandas', 'sklearn', 'pyarrow', 'shap') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_public_validate_reads_the_sample_as_the_command_does(tmp_path):
    from pathlib import Path

    sample = Path(__file__).resolve().parents[1] / "datasets" / "sample"
    sub = scoring.load_submission(sample)
    text = scoring.validate(sample)
    for name, counts in sub.counts.items():
        assert name in text and str(counts.rows_accepted) in text
