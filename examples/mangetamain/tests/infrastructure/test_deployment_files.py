"""Infrastructure checks: the files a deploy relies on say what the pipeline expects.

The seed's infrastructure tests reach S3 and DuckDB with credentials; these need
none, and check what lastgood's health gate depends on: static serving, the ports,
the mount.
"""

import tomllib

from tests.conftest import APP


def test_streamlit_serves_the_revision_file_and_runs_the_script_check():
    config = tomllib.loads((APP / ".streamlit/config.toml").read_text())
    assert config["server"]["enableStaticServing"] is True
    assert config["server"]["scriptHealthCheckEnabled"] is True
    assert (APP / "static").is_dir()
    assert "static/revision.txt" in (APP / ".gitignore").read_text().splitlines()


def test_compose_files_publish_the_seed_ports_and_mount_the_checkout():
    for env, port in (("preprod", 8500), ("prod", 8501)):
        text = (APP / f"docker-compose-{env}.yml").read_text()
        assert f":-{port}}}:8501" in text, env
        assert "${APP_CHECKOUT:-.}:/app" in text, env
        assert '"serve.py", "run"' in text, env
