"""The Files spec's curl examples (spec/file-processing-api.md, "Usage Examples"), run
with curl and a cookies.txt exactly as written: only the host differs, and the
placeholders are filled in (``<your_key>`` with the stored file's name, ``12`` with a
file id of the history). curl's ``~/.curlrc`` gives the run its own client address,
so it has rate-limit buckets of its own, without touching the commands."""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

from deploy.platform import RunningPlatform
from samples import documents as samples
from tests.services.ingest.worker.documents.conftest import pdf_text

# Copied character for character from the spec's "Usage Examples (curl)".
REGISTRATION = """curl -X POST http://localhost:8000/auth/registration \\
  -H "Content-Type: application/json" \\
  -d '{"username":"alice01","email":"alice@example.com","password":"Str0ng_Pass!","password1":"Str0ng_Pass!"}'"""  # noqa: E501
LOGIN = """curl -i -c cookies.txt -X POST http://localhost:8000/auth/login \\
  -H "Content-Type: application/json" \\
  -d '{"username":"alice01","password":"Str0ng_Pass!","totp_code":"123456"}'"""
UPLOAD = """curl -b cookies.txt -F "file=@document.pdf" http://localhost:8000/files/upload"""
CONVERT = """curl -b cookies.txt -H "Content-Type: application/json" \\
  -d '{"s3_key":"<your_key>.docx","format_from":"docx","format_to":"pdf"}' \\
  http://localhost:8000/files/convert"""
DOWNLOAD = """curl -b cookies.txt http://localhost:8000/files/download/12"""
DELETE = """curl -X DELETE -b cookies.txt http://localhost:8000/files/remove/12"""
TONALITY = """curl -b cookies.txt -H "Content-Type: application/json" \\
  -d '{"s3_key":"marketing_summary.txt"}' \\
  http://localhost:8000/files/tonality-analysis"""

MARKETING = (
    "Our new analytics platform is a wonderful success. Customers love the fast, "
    "elegant reports and the excellent support team. The launch exceeded every goal.\n"
)


class Curl:
    def __init__(self, gateway_url: str, workdir: Path) -> None:
        self.url = gateway_url.rstrip("/")
        self.workdir = workdir
        home = workdir / "home"
        home.mkdir()
        address = f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        (home / ".curlrc").write_text(f'header = "X-Forwarded-For: {address}"\n')
        self.env = {**os.environ, "HOME": str(home)}

    def run(self, command: str, **placeholders: str) -> str:
        command = command.replace("http://localhost:8000", self.url)
        for placeholder, value in placeholders.items():
            command = command.replace(placeholder, value)
        done = subprocess.run(
            ["bash", "-c", command + " --silent --show-error --max-time 240"],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def json(self, command: str, **placeholders: str) -> dict[str, object]:
        answer: dict[str, object] = json.loads(self.run(command, **placeholders))
        return answer


def test_the_files_curl_flow_runs_as_written(platform: RunningPlatform, tmp_path: Path) -> None:
    curl = Curl(platform.gateway_url, tmp_path)
    registered = curl.json(REGISTRATION)
    assert "user" in registered or "message" in registered, registered

    headers = curl.run(LOGIN)
    assert headers.startswith("HTTP/1.1 200"), headers
    assert "session_id" in (tmp_path / "cookies.txt").read_text()

    pdf = samples.sample("pdf", 40, sections=2, paragraphs=2)
    (tmp_path / "document.pdf").write_bytes(pdf.data)
    uploaded = curl.json(UPLOAD)
    assert uploaded["filename"] == "document.pdf"
    assert uploaded["kind"] == "pdf"
    assert isinstance(uploaded["id"], int)

    # The same Upload command for the other files of the flow.
    report = samples.sample("docx", 41, sections=2, paragraphs=2)
    (tmp_path / "report.docx").write_bytes(report.data)
    docx = curl.json(UPLOAD.replace("document.pdf", "report.docx"))
    assert docx["kind"] == "docx"
    (tmp_path / "marketing_summary.txt").write_text(MARKETING)
    curl.json(UPLOAD.replace("document.pdf", "marketing_summary.txt"))

    converted = curl.json(CONVERT, **{"<your_key>": "report"})
    assert converted["status"] == "success", converted
    assert isinstance(converted["new_s3_key"], str)
    converted_id = str(converted["file_id"])

    download = curl.json(DOWNLOAD.replace("/12", f"/{converted_id}"))
    fetched = tmp_path / "converted.pdf"
    subprocess.run(
        ["curl", "--silent", "--fail", "-o", str(fetched), str(download["file_url"])],
        check=True,
        timeout=60,
    )
    assert report.text.marker in pdf_text(fetched)

    status = curl.run(
        DELETE.replace("/12", f"/{uploaded['id']}") + " -o /dev/null -w '%{http_code}'"
    )
    assert status == "204"
    again = curl.run(
        DELETE.replace("/12", f"/{uploaded['id']}") + " -o /dev/null -w '%{http_code}'"
    )
    assert again == "404"

    tonality = curl.json(TONALITY)
    assert tonality["status"] == "success", tonality
    assert tonality["s3_key"]
    assert tonality["polarity_status"] in (
        "slightly_positive",
        "moderate_positive",
        "strong_positive",
    )
    for field in (
        "polarity",
        "subjectivity",
        "objective_sentiment_score",
        "polarity_description",
        "subjectivity_status",
        "subjectivity_description",
        "objective_sentiment_status",
        "objective_sentiment_description",
    ):
        assert tonality[field] is not None, field
