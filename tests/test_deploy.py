"""deploy/ holds what it claims: systemd units that `systemd-analyze verify` accepts and that start
`storybot serve` as the command line parses it, with a config whose every written path the units
let the bot write; an nginx configuration that `nginx -t` accepts (with a throwaway self-signed
certificate) and that agrees with that config; an image on scripts/setup's torch. A test whose
tool is missing skips, saying which."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from bot.cli import build_parser, cmd_serve
from bot.config import Config, load_config

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
INSTALLED = "/opt/storybot/.venv/bin/storybot"  # where deploy/README.md installs storybot
# unit file -> the unit to verify (a template is verified as one of its instances)
INSTANCES = {"storybot.service": "storybot.service", "storybot@.service": "storybot@a.service"}


def tool(name: str, where: str) -> str:
    """The program's path, or skip the test saying that it is missing and where it comes from."""
    found = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))
    if found is None:
        pytest.skip(f"{name} is not installed ({where}): deploy/ is not checked with it")
    return found


def unit_settings(name: str) -> dict[str, list[str]]:
    """'Key' -> its values in the order given, from every section of a unit file."""
    settings: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def deploy_config() -> Config:
    return load_config(DEPLOY / "storybot.toml", environ={})


@pytest.mark.parametrize("unit", sorted(INSTANCES))
def test_systemd_analyze_verifies_the_unit(unit: str, tmp_path: Path) -> None:
    analyze = tool("systemd-analyze", "Debian's systemd package")
    storybot = Path(sys.executable).with_name("storybot")  # verify checks that it exists
    assert storybot.is_file(), f"no storybot command beside {sys.executable}"
    text = (UNITS / unit).read_text(encoding="utf-8")
    assert INSTALLED in text
    (tmp_path / unit).write_text(text.replace(INSTALLED, str(storybot)), encoding="utf-8")
    result = subprocess.run(
        [analyze, "verify", str(tmp_path / INSTANCES[unit])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # verify exits 0 on an unknown key or a bad value ("..., ignoring"): any message fails
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize(
    ("unit", "config", "webhook"),
    [
        ("storybot.service", "/etc/storybot/config.toml", False),
        ("storybot@.service", "/etc/storybot/a.toml", False),
    ],
)
def test_the_unit_runs_storybot_serve(unit: str, config: str, webhook: bool) -> None:
    settings = unit_settings(unit)
    (command,) = settings["ExecStart"]
    program, *arguments = shlex.split(command.replace("%i", "a"))
    assert program == INSTALLED
    args = build_parser().parse_args(arguments)
    assert (args.func, args.config, args.webhook) == (cmd_serve, config, webhook)
    assert not args.watch  # replicas would all watch one corpus
    # the token comes from a file only root reads, never from the unit itself
    assert settings["EnvironmentFile"][0] == "/etc/storybot/storybot.env"
    assert not [e for e in settings.get("Environment", []) if "TOKEN" in e or "SECRET" in e]


@pytest.mark.parametrize("unit", sorted(INSTANCES))
def test_the_unit_lets_the_bot_write_what_the_config_names(unit: str) -> None:
    settings = unit_settings(unit)
    for key, value in [
        ("Restart", "on-failure"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("User", "storybot"),
    ]:
        assert settings[key] == [value], key
    writable = [PurePosixPath(p) for p in " ".join(settings["ReadWritePaths"]).split()]
    config = deploy_config()
    written = {
        "corpus.path": config.corpus.path,
        "index.path": config.index.path,
        "index.onnx_cache": config.index.onnx_cache,
        "chat.state_path": config.chat.state_path.parent,
        "WorkingDirectory": Path(settings["WorkingDirectory"][0]),
    }
    for what, path in written.items():
        assert path.is_absolute(), f"{what} {path} is relative: it would be taken from /etc"
        assert any(PurePosixPath(path).is_relative_to(w) for w in writable), (what, path)


def _configure_arguments(nginx: str) -> str:
    return subprocess.run([nginx, "-V"], capture_output=True, text=True, timeout=60).stderr


def _test_harness(tmp: Path, configure: str) -> str:
    """A main nginx.conf around the site file that writes only inside ``tmp``."""
    temp_paths = [f"client_body_temp_path {tmp}/client_body;", f"proxy_temp_path {tmp}/proxy;"]
    temp_paths += [
        f"{module}_temp_path {tmp}/{module};"
        for module in ("fastcgi", "uwsgi", "scgi")
        if f"--without-http_{module}_module" not in configure
    ]
    return (
        f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\nevents {{}}\nhttp {{\n"
        f"    access_log {tmp}/access.log;\n    {' '.join(temp_paths)}\n"
        f"    include {tmp}/storybot.conf;\n}}\n"
    )


def _on_free_loopback_ports(site: str) -> str:
    """Each ``listen`` on a free loopback port of its own: ``nginx -t`` binds what it listens
    on, and ports 80 and 443 need root and may be taken."""

    def free(match: re.Match[str]) -> str:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        return f"{match.group(1)}listen 127.0.0.1:{port}{match.group(2)};"

    site, count = re.subn(r"(?m)^(\s*)listen\s+[^\s;]+((?:\s+\w+)*);", free, site)
    assert count == 4  # http and https, IPv4 and IPv6
    return site


def test_nginx_accepts_the_proxy_configuration(tmp_path: Path) -> None:
    nginx = tool("nginx", "scripts/test installs it when run as root on Debian")
    openssl = tool("openssl", "Debian's openssl package")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=bot.example.org", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    site = (DEPLOY / "nginx" / "storybot.conf").read_text(encoding="utf-8")
    site, certs = re.subn(r"(?m)^(\s*ssl_certificate)\s+\S+;", rf"\1 {cert};", site)
    site, keys = re.subn(r"(?m)^(\s*ssl_certificate_key)\s+\S+;", rf"\1 {key};", site)
    assert (certs, keys) == (1, 1)
    (tmp_path / "storybot.conf").write_text(_on_free_loopback_ports(site), encoding="utf-8")
    main = tmp_path / "nginx.conf"
    main.write_text(_test_harness(tmp_path, _configure_arguments(nginx)), encoding="utf-8")
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(main)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    assert not re.search(r"\[(warn|emerg|crit|alert)\]", result.stderr), result.stderr


def test_the_proxy_sends_the_webhook_where_the_bot_takes_it() -> None:
    site = (DEPLOY / "nginx" / "storybot.conf").read_text(encoding="utf-8")
    web = deploy_config().web
    assert f"location = {web.webhook_path} {{" in site
    (webhook,) = re.findall(
        r"(?s)location = " + re.escape(web.webhook_path) + r" \{(.*?)\n    \}", site
    )
    assert "proxy_pass http://storybot;" in webhook  # round-robin: the replicas share the inbox
    (upstream,) = re.findall(r"(?s)upstream storybot \{(.*?)\}", site)
    ports = re.findall(r"(?m)^\s*server \S+:(\d+)", upstream)
    assert ports == [str(web.port)] * 2  # two replicas
    (server_name,) = set(re.findall(r"server_name (\S+);", site))
    assert web.webhook_url == f"https://{server_name}{web.webhook_path}"
    for header in ("X-Forwarded-Proto $scheme", "X-Forwarded-For", "Host $host"):
        assert f"proxy_set_header {header}" in site
    assert web.trust_forwarded_proto  # the admin page's cookie is Secure behind the proxy
    assert "location /admin {" in site and "location = /healthz {" in site


def _torch_pin(text: str) -> str:
    (version,) = set(re.findall(r"torch==([\d.]+)", text))
    return version


def test_the_image_installs_the_torch_of_scripts_setup() -> None:
    setup = _torch_pin((ROOT / "scripts" / "setup").read_text(encoding="utf-8"))
    (lock,) = re.findall(r'TORCH="([\d.]+)"', (ROOT / "scripts" / "lock").read_text("utf-8"))
    image = _torch_pin((ROOT / "Dockerfile").read_text(encoding="utf-8"))
    assert setup == lock == image
