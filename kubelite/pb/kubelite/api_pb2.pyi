from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Usage(_message.Message):
    __slots__ = ("cpu_seconds", "cpu_millicores", "memory_working_set_bytes", "cpu_window_seconds")
    CPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CPU_MILLICORES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_WORKING_SET_BYTES_FIELD_NUMBER: _ClassVar[int]
    CPU_WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    cpu_seconds: float
    cpu_millicores: float
    memory_working_set_bytes: int
    cpu_window_seconds: float
    def __init__(self, cpu_seconds: _Optional[float] = ..., cpu_millicores: _Optional[float] = ..., memory_working_set_bytes: _Optional[int] = ..., cpu_window_seconds: _Optional[float] = ...) -> None: ...

class ContainerStats(_message.Message):
    __slots__ = ("name", "usage")
    NAME_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    name: str
    usage: Usage
    def __init__(self, name: _Optional[str] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ...) -> None: ...

class PodStats(_message.Message):
    __slots__ = ("namespace", "name", "uid", "usage", "containers")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    name: str
    uid: str
    usage: Usage
    containers: _containers.RepeatedCompositeFieldContainer[ContainerStats]
    def __init__(self, namespace: _Optional[str] = ..., name: _Optional[str] = ..., uid: _Optional[str] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., containers: _Optional[_Iterable[_Union[ContainerStats, _Mapping]]] = ...) -> None: ...

class NodeStats(_message.Message):
    __slots__ = ("name", "usage", "memory_total_bytes", "cpu_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    CPU_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    usage: Usage
    memory_total_bytes: int
    cpu_count: int
    def __init__(self, name: _Optional[str] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., memory_total_bytes: _Optional[int] = ..., cpu_count: _Optional[int] = ...) -> None: ...

class StatsResponse(_message.Message):
    __slots__ = ("time", "node", "pods")
    TIME_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    PODS_FIELD_NUMBER: _ClassVar[int]
    time: float
    node: NodeStats
    pods: _containers.RepeatedCompositeFieldContainer[PodStats]
    def __init__(self, time: _Optional[float] = ..., node: _Optional[_Union[NodeStats, _Mapping]] = ..., pods: _Optional[_Iterable[_Union[PodStats, _Mapping]]] = ...) -> None: ...

class Object(_message.Message):
    __slots__ = ("json",)
    JSON_FIELD_NUMBER: _ClassVar[int]
    json: bytes
    def __init__(self, json: _Optional[bytes] = ...) -> None: ...

class CreateRequest(_message.Message):
    __slots__ = ("resource", "namespace", "json", "dry_run")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    resource: str
    namespace: str
    json: bytes
    dry_run: bool
    def __init__(self, resource: _Optional[str] = ..., namespace: _Optional[str] = ..., json: _Optional[bytes] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ("resource", "namespace", "name")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    resource: str
    namespace: str
    name: str
    def __init__(self, resource: _Optional[str] = ..., namespace: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class ListRequest(_message.Message):
    __slots__ = ("resource", "namespace", "label_selector", "field_selector", "limit")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    LABEL_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    FIELD_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CONTINUE_FIELD_NUMBER: _ClassVar[int]
    resource: str
    namespace: str
    label_selector: str
    field_selector: str
    limit: int
    def __init__(self, resource: _Optional[str] = ..., namespace: _Optional[str] = ..., label_selector: _Optional[str] = ..., field_selector: _Optional[str] = ..., limit: _Optional[int] = ..., **kwargs) -> None: ...

class ListResponse(_message.Message):
    __slots__ = ("items", "resource_version")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    CONTINUE_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedScalarFieldContainer[bytes]
    resource_version: str
    def __init__(self, items: _Optional[_Iterable[bytes]] = ..., resource_version: _Optional[str] = ..., **kwargs) -> None: ...

class UpdateRequest(_message.Message):
    __slots__ = ("resource", "namespace", "name", "json", "dry_run")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    resource: str
    namespace: str
    name: str
    json: bytes
    dry_run: bool
    def __init__(self, resource: _Optional[str] = ..., namespace: _Optional[str] = ..., name: _Optional[str] = ..., json: _Optional[bytes] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("resource", "namespace", "name", "grace_period_seconds", "propagation_policy", "precondition_uid", "precondition_resource_version")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    GRACE_PERIOD_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PROPAGATION_POLICY_FIELD_NUMBER: _ClassVar[int]
    PRECONDITION_UID_FIELD_NUMBER: _ClassVar[int]
    PRECONDITION_RESOURCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    resource: str
    namespace: str
    name: str
    grace_period_seconds: int
    propagation_policy: str
    precondition_uid: str
    precondition_resource_version: str
    def __init__(self, resource: _Optional[str] = ..., namespace: _Optional[str] = ..., name: _Optional[str] = ..., grace_period_seconds: _Optional[int] = ..., propagation_policy: _Optional[str] = ..., precondition_uid: _Optional[str] = ..., precondition_resource_version: _Optional[str] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("resource", "namespace", "resource_version", "label_selector", "field_selector", "allow_bookmarks")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_VERSION_FIELD_NUMBER: _ClassVar[int]
    LABEL_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    FIELD_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    ALLOW_BOOKMARKS_FIELD_NUMBER: _ClassVar[int]
    resource: str
    namespace: str
    resource_version: str
    label_selector: str
    field_selector: str
    allow_bookmarks: bool
    def __init__(self, resource: _Optional[str] = ..., namespace: _Optional[str] = ..., resource_version: _Optional[str] = ..., label_selector: _Optional[str] = ..., field_selector: _Optional[str] = ..., allow_bookmarks: _Optional[bool] = ...) -> None: ...

class WatchEvent(_message.Message):
    __slots__ = ("type", "object")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    type: str
    object: bytes
    def __init__(self, type: _Optional[str] = ..., object: _Optional[bytes] = ...) -> None: ...

class BindRequest(_message.Message):
    __slots__ = ("namespace", "name", "node_name", "pod_uid")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    POD_UID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    name: str
    node_name: str
    pod_uid: str
    def __init__(self, namespace: _Optional[str] = ..., name: _Optional[str] = ..., node_name: _Optional[str] = ..., pod_uid: _Optional[str] = ...) -> None: ...

class LogsRequest(_message.Message):
    __slots__ = ("namespace", "name", "container", "follow", "tail_lines", "previous", "timestamps", "pod_uid", "since_time", "limit_bytes")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    TAIL_LINES_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMPS_FIELD_NUMBER: _ClassVar[int]
    POD_UID_FIELD_NUMBER: _ClassVar[int]
    SINCE_TIME_FIELD_NUMBER: _ClassVar[int]
    LIMIT_BYTES_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    name: str
    container: str
    follow: bool
    tail_lines: int
    previous: bool
    timestamps: bool
    pod_uid: str
    since_time: str
    limit_bytes: int
    def __init__(self, namespace: _Optional[str] = ..., name: _Optional[str] = ..., container: _Optional[str] = ..., follow: _Optional[bool] = ..., tail_lines: _Optional[int] = ..., previous: _Optional[bool] = ..., timestamps: _Optional[bool] = ..., pod_uid: _Optional[str] = ..., since_time: _Optional[str] = ..., limit_bytes: _Optional[int] = ...) -> None: ...

class LogChunk(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class ExecStart(_message.Message):
    __slots__ = ("namespace", "name", "container", "command", "tty", "stdin", "pod_uid")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    TTY_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    POD_UID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    name: str
    container: str
    command: _containers.RepeatedScalarFieldContainer[str]
    tty: bool
    stdin: bool
    pod_uid: str
    def __init__(self, namespace: _Optional[str] = ..., name: _Optional[str] = ..., container: _Optional[str] = ..., command: _Optional[_Iterable[str]] = ..., tty: _Optional[bool] = ..., stdin: _Optional[bool] = ..., pod_uid: _Optional[str] = ...) -> None: ...

class ExecRequest(_message.Message):
    __slots__ = ("start", "stdin", "close_stdin", "width", "height")
    START_FIELD_NUMBER: _ClassVar[int]
    STDIN_FIELD_NUMBER: _ClassVar[int]
    CLOSE_STDIN_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    start: ExecStart
    stdin: bytes
    close_stdin: bool
    width: int
    height: int
    def __init__(self, start: _Optional[_Union[ExecStart, _Mapping]] = ..., stdin: _Optional[bytes] = ..., close_stdin: _Optional[bool] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class ExecResponse(_message.Message):
    __slots__ = ("stdout", "stderr", "exited", "exit_code")
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    STDERR_FIELD_NUMBER: _ClassVar[int]
    EXITED_FIELD_NUMBER: _ClassVar[int]
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    stdout: bytes
    stderr: bytes
    exited: bool
    exit_code: int
    def __init__(self, stdout: _Optional[bytes] = ..., stderr: _Optional[bytes] = ..., exited: _Optional[bool] = ..., exit_code: _Optional[int] = ...) -> None: ...

class PortForwardStart(_message.Message):
    __slots__ = ("namespace", "name", "pod_uid", "port")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    POD_UID_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    name: str
    pod_uid: str
    port: int
    def __init__(self, namespace: _Optional[str] = ..., name: _Optional[str] = ..., pod_uid: _Optional[str] = ..., port: _Optional[int] = ...) -> None: ...

class PortForwardRequest(_message.Message):
    __slots__ = ("start", "data", "close_write")
    START_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CLOSE_WRITE_FIELD_NUMBER: _ClassVar[int]
    start: PortForwardStart
    data: bytes
    close_write: bool
    def __init__(self, start: _Optional[_Union[PortForwardStart, _Mapping]] = ..., data: _Optional[bytes] = ..., close_write: _Optional[bool] = ...) -> None: ...

class PortForwardResponse(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...
