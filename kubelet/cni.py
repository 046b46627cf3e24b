"""Pod networking through the real CNI plugins (`bridge` + `host-local`, `portmap`, `loopback`).

Why the real plugins instead of our own netlink code: they are what a
Kubernetes node runs, they already handle veth pairs, the gateway on the
bridge, IPAM with locking and port mappings, and they keep working the same
when the kubelet runs inside a "node" network namespace of `kubelite up`.

The kubelet plays libcni's part: it writes the network configuration list
(a `.conflist`, for people to read), and for each pod runs the plugins of the
list in order with the CNI environment variables and the plugin's JSON on
stdin, chaining each result into the next plugin as `prevResult`; DEL runs
them in reverse order with the cached ADD result. Loopback is its own one-
plugin network on `lo`, like container runtimes do it.

Pod traffic to the rest of the cluster (other nodes' podCIDRs) keeps the pod
IP; only traffic leaving the cluster CIDR is masqueraded. The bridge plugin's
own `ipMasq` would also masquerade pod-to-pod traffic between nodes (it only
exempts the node's own /24), so the kubelet installs that one rule itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import re
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

CNI_VERSION = "1.0.0"
NETWORK_NAME = "kubelite"
CLUSTER_CIDR = "10.244.0.0/16"
BRIDGE = "kube0"  # the node's pod bridge (in the node's namespace)
MASQ_COMMENT = "kubelite: masquerade pod traffic leaving the cluster CIDR"
PLUGIN_TIMEOUT = 30.0
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")

PodCidrSource = Callable[[], Awaitable[str]]
"""Awaited on the first ADD: the node's podCIDR may only be known after registration."""
MtuSource = Callable[[], Awaitable[int | None]]
"""Awaited on the first ADD: the pod MTU an overlay needs (None: the plugin's default)."""


class PortMappingLike(Protocol):
    """What `add` needs of a port mapping (kubelet.runtime.PortMapping has these)."""

    container_port: int
    host_port: int
    protocol: str
    host_ip: str


class CniError(Exception):
    """A plugin failed or could not run; the message names the plugin, command and reason."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


def _sysctl_set(name: str, value: str) -> None:
    """Set a /proc/sys value in the current network namespace (best effort, logged)."""
    path = Path("/proc/sys") / name.replace(".", "/")
    try:
        if path.read_text().strip() != value:
            path.write_text(value)
    except OSError as exc:
        log.warning("cannot set sysctl %s=%s: %s", name, value, exc)


class CniNetwork:
    """The pod network of one node: `add` gives a pod's netns an IP, `delete` takes it back."""

    def __init__(
        self,
        node_pod_cidr: str | PodCidrSource,
        bridge: str = BRIDGE,
        plugin_dir: str | Path = "/usr/lib/cni",
        state_dir: Path = Path("/var/lib/kubelite/cni"),
        cluster_cidr: str = CLUSTER_CIDR,
        network_name: str = NETWORK_NAME,
        timeout: float = PLUGIN_TIMEOUT,
        node_netns: str | None = None,
        mtu_source: MtuSource | None = None,
    ) -> None:
        self._cidr_source: PodCidrSource | None = None
        self._pod_cidr: str | None = None
        if isinstance(node_pod_cidr, str):
            self._pod_cidr = _check_cidr(node_pod_cidr, "node podCIDR")
        else:
            self._cidr_source = node_pod_cidr
        self.bridge = bridge
        self.plugin_dir = Path(plugin_dir)
        self.state_dir = Path(state_dir)
        self.cluster_cidr = _check_cidr(cluster_cidr, "cluster CIDR")
        self.network_name = network_name
        self.timeout = timeout
        # Where the node's networking lives; None = the kubelet's own network namespace.
        # Set only by tests (and tools) that drive a node namespace from outside.
        self._prefix = ["nsenter", f"--net={node_netns}", "--"] if node_netns else []
        self._mtu_source = mtu_source
        self.mtu: int | None = None  # of the pod veths and the bridge; known with the podCIDR
        self._host_ready = False
        self._setup_lock = asyncio.Lock()

    # -- configuration --------------------------------------------------------------

    @property
    def pod_cidr(self) -> str | None:
        return self._pod_cidr

    def conflist(self, pod_cidr: str) -> dict[str, Any]:
        """The network configuration list this node uses (CNI spec format)."""
        return {
            "cniVersion": CNI_VERSION,
            "name": self.network_name,
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": self.bridge,
                    "isGateway": True,
                    "ipMasq": False,  # see the module docstring: masquerade only outside the cluster
                    "hairpinMode": True,
                    **({"mtu": self.mtu} if self.mtu else {}),
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(self.state_dir / "ipam"),
                        "ranges": [[{"subnet": pod_cidr}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
            ],
        }

    def _loopback_conf(self) -> dict[str, Any]:
        return {"cniVersion": CNI_VERSION, "name": f"{self.network_name}-lo", "type": "loopback"}

    async def _ensure_ready(self) -> str:
        """Resolve the podCIDR, write the conflist and prepare the node once (under a lock)."""
        if self._host_ready and self._pod_cidr is not None:
            return self._pod_cidr
        async with self._setup_lock:
            if self._pod_cidr is None:
                assert self._cidr_source is not None
                self._pod_cidr = _check_cidr(await self._cidr_source(), "node podCIDR")
            if self._mtu_source is not None and self.mtu is None:
                self.mtu = await self._mtu_source()
            if not self._host_ready:
                await self._prepare_node(self._pod_cidr)
                self._host_ready = True
            return self._pod_cidr

    async def _prepare_node(self, pod_cidr: str) -> None:
        for name in ("ipam", "results"):
            (self.state_dir / name).mkdir(parents=True, exist_ok=True)
        path = self.state_dir / f"10-{self.network_name}.conflist"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.conflist(pod_cidr), indent=2) + "\n")
        os.replace(tmp, path)
        # Without bridge-nf-call-iptables, traffic between two pods on the same bridge skips
        # iptables, so a Service whose backend is on the same node would time out (design §10).
        wanted = {"net.ipv4.ip_forward": "1", "net.bridge.bridge-nf-call-iptables": "1"}
        if self._prefix:
            args = [f"{k}={v}" for k, v in wanted.items()]
            code, _, err = await _run([*self._prefix, "sysctl", "-qw", *args], None, None, self.timeout)
            if code != 0:
                log.warning("cannot set sysctls: %s", err.decode(errors="replace").strip())
        else:
            for key, value in wanted.items():
                _sysctl_set(key, value)
        await self._ensure_masquerade(pod_cidr)

    async def _ensure_masquerade(self, pod_cidr: str) -> None:
        rule = ["POSTROUTING", "-s", pod_cidr, "!", "-d", self.cluster_cidr,
                "-m", "comment", "--comment", MASQ_COMMENT, "-j", "MASQUERADE"]
        code, _, _ = await _run([*self._prefix, "iptables", "-w", "-t", "nat", "-C", *rule], None, None, self.timeout)
        if code == 0:
            return
        code, _, err = await _run([*self._prefix, "iptables", "-w", "-t", "nat", "-A", *rule], None, None, self.timeout)
        if code != 0:
            raise CniError(f"cannot add the pod masquerade rule: {err.decode(errors='replace').strip()}")

    # -- ADD / DEL ------------------------------------------------------------------

    async def add(
        self,
        container_id: str,
        netns_path: str,
        ifname: str = "eth0",
        port_mappings: Sequence[PortMappingLike] = (),
        pod_name: str = "",
        pod_namespace: str = "",
        loopback: bool = True,
    ) -> str:
        """Attach the pod's network namespace to the node bridge; returns the pod IP.

        `loopback=False`: the caller already brought `lo` up when it made the namespace
        (the runc sandbox does), so the loopback plugin is not run. On failure whatever
        the plugins already did is undone (DEL) before raising.
        """
        _check_id(container_id)
        if not netns_path or not Path(netns_path).exists():
            raise CniError(f"network namespace {netns_path!r} of {container_id} does not exist")
        pod_cidr = await self._ensure_ready()
        conflist = self.conflist(pod_cidr)
        runtime_config = {"portMappings": [_port_mapping(pm) for pm in port_mappings]}
        env = self._env("ADD", container_id, netns_path, ifname, pod_name, pod_namespace)
        try:
            if loopback:
                await self._invoke(self._loopback_conf(), {**env, "CNI_IFNAME": "lo"})
            result: dict[str, Any] | None = None
            for plugin in _needed(conflist["plugins"], runtime_config):
                conf = self._plugin_conf(conflist, plugin, runtime_config, result)
                result = await self._invoke(conf, env)
        except BaseException:
            with contextlib.suppress(Exception):
                await self._delete(container_id, netns_path, ifname, conflist, runtime_config, None)
            raise
        assert result is not None
        ip = _pod_ip(result, ifname)
        self._result_path(container_id, ifname).write_text(
            json.dumps({"result": result, "runtimeConfig": runtime_config, "netns": netns_path})
        )
        log.debug("pod network added", extra={"container": container_id, "ip": ip})
        return ip

    async def delete(self, container_id: str, netns_path: str, ifname: str = "eth0") -> None:
        """Release the pod's IP and interfaces; safe to call again, or after the netns is gone."""
        _check_id(container_id)
        cached: dict[str, Any] = {}
        path = self._result_path(container_id, ifname)
        with contextlib.suppress(OSError, ValueError):
            cached = json.loads(path.read_text())
        if self._pod_cidr is None and not cached:
            return  # never set up anything on this node for this id
        pod_cidr = self._pod_cidr or _subnet_of(cached.get("result", {})) or await self._ensure_ready()
        await self._delete(container_id, netns_path, ifname, self.conflist(pod_cidr),
                           cached.get("runtimeConfig", {"portMappings": []}), cached.get("result"))
        path.unlink(missing_ok=True)

    async def _delete(
        self,
        container_id: str,
        netns_path: str,
        ifname: str,
        conflist: dict[str, Any],
        runtime_config: dict[str, Any],
        prev_result: dict[str, Any] | None,
    ) -> None:
        # A netns that is already gone is passed as "": plugins then release what lives
        # outside it (IPAM lease, iptables rules) and skip the interface.
        ns = netns_path if netns_path and Path(netns_path).exists() else ""
        env = self._env("DEL", container_id, ns, ifname, "", "")
        errors: list[str] = []
        # Without a cached ADD the mappings are unknown: every plugin runs, as before.
        plugins = conflist["plugins"] if prev_result is None else _needed(conflist["plugins"], runtime_config)
        for plugin in reversed(plugins):
            try:
                await self._invoke(self._plugin_conf(conflist, plugin, runtime_config, prev_result), env)
            except CniError as exc:
                errors.append(str(exc))
        if errors:
            raise CniError("; ".join(errors))

    # -- plumbing -------------------------------------------------------------------

    def _result_path(self, container_id: str, ifname: str) -> Path:
        return self.state_dir / "results" / f"{self.network_name}-{container_id}-{ifname}.json"

    def _env(self, command: str, container_id: str, netns: str, ifname: str, pod: str, ns: str) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": container_id,
            "CNI_NETNS": netns,
            "CNI_IFNAME": ifname,
            "CNI_PATH": str(self.plugin_dir),
        }
        if pod:
            env["CNI_ARGS"] = f"IgnoreUnknown=1;K8S_POD_NAMESPACE={ns};K8S_POD_NAME={pod};K8S_POD_INFRA_CONTAINER_ID={container_id}"
        return env

    @staticmethod
    def _plugin_conf(
        conflist: dict[str, Any],
        plugin: dict[str, Any],
        runtime_config: dict[str, Any],
        prev_result: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """One plugin's stdin: its own keys plus the list's name/version, as libcni builds it."""
        conf = {**plugin, "cniVersion": conflist["cniVersion"], "name": conflist["name"]}
        caps = plugin.get("capabilities", {})
        wanted = {k: v for k, v in runtime_config.items() if caps.get(k)}
        if wanted:
            conf["runtimeConfig"] = wanted
        if prev_result is not None:
            conf["prevResult"] = prev_result
        return conf

    async def _invoke(self, conf: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
        plugin = str(conf["type"])
        binary = self.plugin_dir / plugin
        command = env["CNI_COMMAND"]
        if not os.access(binary, os.X_OK):
            raise CniError(f"CNI plugin {plugin!r} not found in {self.plugin_dir} "
                           "(install the containernetworking-plugins package)")
        code, out, err = await _run([*self._prefix, str(binary)], json.dumps(conf).encode(), env, self.timeout)
        if code != 0:
            raise CniError(_plugin_error(plugin, command, code, out, err), code)
        if command == "DEL" or not out.strip():
            return {}
        try:
            result = json.loads(out)
        except ValueError:
            raise CniError(f"CNI plugin {plugin} {command} printed no JSON result: {out[:200]!r}") from None
        if not isinstance(result, dict):
            raise CniError(f"CNI plugin {plugin} {command} printed an unexpected result: {out[:200]!r}")
        return result


def _needed(plugins: list[dict[str, Any]], runtime_config: dict[str, Any]) -> list[dict[str, Any]]:
    """The plugins a pod's ADD (or DEL of a cached ADD) must run: `portmap` has nothing to do
    (it passes prevResult through and sets up no rule) without port mappings, and each
    plugin run is a process start, the largest part of a CNI ADD."""
    if runtime_config.get("portMappings"):
        return plugins
    return [p for p in plugins if p.get("type") != "portmap"]


async def _run(argv: list[str], stdin: bytes | None, env: dict[str, str] | None,
               timeout: float) -> tuple[int, bytes, bytes]:
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env,
        )
    except OSError as exc:
        raise CniError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise CniError(f"{argv[0]} did not finish within {timeout:.0f}s") from None
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out, err


def _plugin_error(plugin: str, command: str, code: int, out: bytes, err: bytes) -> str:
    """The plugin's own error message (CNI error JSON on stdout), else its stderr."""
    text = ""
    try:
        data = json.loads(out)
        if isinstance(data, dict) and data.get("msg"):
            text = str(data["msg"]) + (f": {data['details']}" if data.get("details") else "")
    except ValueError:
        pass
    if not text:
        text = (err or out).decode(errors="replace").strip()[-500:] or f"exit status {code}"
    return f"CNI plugin {plugin} {command} failed: {text}"


def _port_mapping(pm: PortMappingLike) -> dict[str, Any]:
    out: dict[str, Any] = {"hostPort": int(pm.host_port), "containerPort": int(pm.container_port),
                           "protocol": (pm.protocol or "TCP").lower()}
    if pm.host_ip:
        out["hostIP"] = pm.host_ip
    return out


def _pod_ip(result: dict[str, Any], ifname: str) -> str:
    """The IPv4 address of `ifname` inside the pod (CNI 1.0 result: ips[].interface -> interfaces[])."""
    interfaces = result.get("interfaces") or []
    ips = result.get("ips") or []
    for entry in ips:
        index = entry.get("interface")
        if isinstance(index, int) and 0 <= index < len(interfaces):
            iface = interfaces[index]
            if iface.get("name") != ifname or not iface.get("sandbox"):
                continue
        addr = str(entry.get("address", "")).partition("/")[0]
        if addr and ipaddress.ip_address(addr).version == 4:
            return addr
    raise CniError(f"CNI result has no IPv4 address for {ifname}: {json.dumps(result)[:300]}")


def _subnet_of(result: dict[str, Any]) -> str | None:
    for entry in result.get("ips") or []:
        with contextlib.suppress(ValueError):
            return str(ipaddress.ip_interface(str(entry.get("address", ""))).network)
    return None


def _check_cidr(text: str, what: str) -> str:
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError:
        raise CniError(f"invalid {what} {text!r}: expected a network like 10.244.1.0/24") from None
    if net.version != 4:
        raise CniError(f"invalid {what} {text!r}: only IPv4 is supported")
    return str(net)


def _check_id(container_id: str) -> None:
    if not _ID_RE.match(container_id):
        raise CniError(f"invalid container id {container_id!r} for CNI")
