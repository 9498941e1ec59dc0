"""The CLI as a user runs it: a subprocess, the project's own database, one-line errors."""

from __future__ import annotations

from tests.conftest import cli_env, run_cli


def test_help_lists_the_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    commands = ("init", "scrape", "import", "curate", "embed", "status", "review", "history", "undo")
    for command in commands:
        assert command in result.stdout
    for command in commands:
        sub = run_cli(command, "--help")
        assert sub.returncode == 0 and "Usage" in sub.stdout, command


def test_init_import_status_with_the_project_database(tmp_path, flowers):
    env = cli_env(FIFTYONE_DATABASE_URI=None, FIFTYONE_DATABASE_DIR=None)
    project = tmp_path / "proj"
    created = run_cli("init", str(project), "--classes-from", str(flowers), env=env)
    assert created.returncode == 0, created.stderr
    assert "5 classes" in created.stdout
    imported = run_cli("import", str(flowers), "-p", str(project), "--quiet", env=env)
    assert imported.returncode == 0, imported.stderr
    assert "imported 41 new images" in imported.stdout and "label conflicts" in imported.stdout.lower()
    assert "15922772266_1167a06620.jpg" in imported.stdout
    assert (project / ".curata" / "db" / "WiredTiger").exists(), "the project's own mongod holds the data"
    status = run_cli("status", "-p", str(project), env=env)
    assert status.returncode == 0, status.stderr
    lines = {line.split()[1]: line.split()[3] for line in status.stdout.splitlines() if line.count("│") >= 3}
    assert lines["roses"] == "9" and lines["daisy"] == "8" and lines["total"] == "41"
    assert "imported 9" in status.stdout
    again = run_cli("import", str(flowers), "-p", str(project), "--quiet", env=env)
    assert "imported 0 new images" in again.stdout and "42 already stored" in again.stdout
    curated = run_cli("curate", "-p", str(project), "--quiet", env=env)
    assert curated.returncode == 0, curated.stderr
    assert "41 analysed, 0 unchanged" in curated.stdout
    rows = {
        line.split("│")[1].strip(): line.split("│")[2:4]
        for line in curated.stdout.splitlines()
        if line.count("│") == 4
    }
    assert (
        rows["label conflicts"][0].strip() == "1" and rows["label conflicts"][1].strip() == "label-conflicts"
    )
    assert rows["blurry"][1].strip() == "issue-blurry"
    assert f"quality issues: {project / 'reports' / 'curate' / 'quality-issues.png'}" in curated.stdout
    rerun = run_cli("curate", "-p", str(project), "--quiet", env=env)
    assert "0 analysed, 41 unchanged" in rerun.stdout
    quick = run_cli("curate", "-p", str(project), "--hashes-only", "--quiet", env=env)
    assert quick.returncode == 0 and "0 analysed, 41 unchanged" in quick.stdout
    assert "quality issues were not measured" in quick.stdout and "label-conflicts" in quick.stdout


def test_user_errors_are_one_line_without_traceback(tmp_path):
    (tmp_path / "curata.toml").write_text('[dataset]\nname = "x"\n\n[[classes]]\nname = "a"\nqueries = "a"\n')
    result = run_cli("status", "-p", str(tmp_path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    message = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(message) == 1, result.stderr
    assert "line 6" in message[0] and "classes[0].queries" in message[0]
    missing = run_cli("import", str(tmp_path / "nowhere"), "-p", str(tmp_path / "nothing"))
    assert missing.returncode == 1 and "curata init" in missing.stderr and "Traceback" not in missing.stderr


def test_two_projects_open_at_once_keep_their_own_databases(tmp_path, flowers):
    """A running App on one project must not capture another project's data (nor the reverse)."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from tests.conftest import free_port

    env = cli_env(FIFTYONE_DATABASE_URI=None, FIFTYONE_DATABASE_DIR=None)
    first, second = tmp_path / "first", tmp_path / "second"
    for project, label in ((first, "roses"), (second, "tulips")):
        assert run_cli("init", str(project), "--class", label, env=env).returncode == 0
    assert (
        run_cli(
            "import", str(flowers / "roses"), "--label", "roses", "-p", str(first), "-q", env=env
        ).returncode
        == 0
    )
    app = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("curata")),
            "review",
            "-p",
            str(first),
            "--no-browser",
            "--port",
            str(free_port()),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        for _ in range(120):  # until the App (and so the first project's mongod) is up
            line = app.stdout.readline()
            if "FiftyOne App for" in line or app.poll() is not None:
                break
        imported = run_cli(
            "import", str(flowers / "tulips"), "--label", "tulips", "-p", str(second), "-q", env=env
        )
        assert imported.returncode == 0, imported.stderr
        assert "imported 9 new images" in imported.stdout
        assert (second / ".curata" / "db" / "WiredTiger").exists()
        mine = run_cli("status", "-p", str(second), env=env)
        theirs = run_cli("status", "-p", str(first), env=env)
    finally:
        app.send_signal(signal.SIGTERM)
        app.communicate(timeout=60)
    assert "tulips" in mine.stdout and "roses" not in mine.stdout
    total = [line for line in theirs.stdout.splitlines() if "total" in line][0]
    assert total.split("│")[2].strip() == "9"
