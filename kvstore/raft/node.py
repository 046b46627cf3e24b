"""RawNode: the API the node layer and the simulator drive (etcd's RawNode shape).

Why a wrapper around `Raft`: the core only mutates state and queues messages;
RawNode turns that into a Ready batch the app can act on in the one safe order
(persist hard state + entries + snapshot, then send messages, then apply
committed entries, then `advance`) and remembers what was already handed out.

Usage (one loop, single-threaded):
    node = RawNode(Config(id=1, storage=storage, rng=random.Random(seed)), peers=[1, 2, 3])
    every tick interval: node.tick()
    on a peer message:   node.step(msg)
    to write:            node.propose(data)          # raises ProposalDropped without a leader
    while node.has_ready():
        rd = node.ready()
        wal.save(rd.hard_state, rd.entries, rd.snapshot); fsync if rd.must_sync
        storage.apply_snapshot / append / set_hard_state (mirror what was persisted)
        transport.send(rd.messages)
        apply rd.committed_entries (CONF_CHANGE -> node.apply_conf_change(ConfChange.decode(e.data)))
        serve rd.read_states once applied >= rs.index
        node.advance(rd)
The transport must call `report_unreachable(id)` when a send fails and
`report_snapshot(id, failed)` when a SNAP message was delivered or lost;
otherwise the leader waits for that follower's snapshot forever.
Restart: rebuild MemoryStorage from disk (snapshot incl. its ConfState, hard
state, entries) and pass `applied` = the index the app's state reflects; pass
peers=None. Read contexts given to `read_index` must be unique cluster-wide.
"""

from __future__ import annotations

from kvstore.raft.config import Config
from kvstore.raft.core import Raft
from kvstore.raft.errors import ProposalDropped, StepLocalMsg
from kvstore.raft.types import (
    LOCAL_MSGS,
    NONE,
    ConfChange,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MsgType,
    Ready,
    SoftState,
    Status,
)

__all__ = ["Config", "RawNode"]

_TERMLESS = frozenset({MsgType.PROP, MsgType.READ_INDEX, MsgType.TRANSFER_LEADER})
"""Message types a peer sends with term 0 (requests forwarded to the leader)."""


class RawNode:
    """A Raft member without I/O. Not thread-safe: call from one task."""

    def __init__(self, config: Config, peers: list[int] | None = None) -> None:
        self.raft = Raft(config)
        storage = config.storage
        hs, _ = storage.initial_state()
        fresh = storage.last_index() == 0 and hs == HardState()
        if peers and fresh:
            self.raft.bootstrap(peers)
        # What the app has already seen: a fresh node reports its bootstrap state.
        self._prev_hs = hs
        self._prev_ss = SoftState(NONE, "follower")

    @property
    def id(self) -> int:
        return self.raft.id

    # ----------------------------------------------------------------- inputs
    def tick(self) -> None:
        """One logical tick (the node layer calls it every tick interval, e.g. 100 ms)."""
        self.raft.tick()

    def campaign(self) -> None:
        """Start an election now (skips the wait for the election timeout)."""
        self.raft.step(Message(MsgType.HUP, to=self.raft.id, frm=self.raft.id))

    def step(self, msg: Message) -> None:
        """Feed a message received from a peer. Local-only types are refused; a
        forwarded proposal that cannot be placed is dropped silently (the
        proposer's client times out and retries)."""
        if msg.type in LOCAL_MSGS:
            raise StepLocalMsg(f"{msg.type.name} is local-only")
        if msg.term == 0 and msg.type not in _TERMLESS:
            return  # malformed: only forwarded requests travel without a term
        try:
            self.raft.step(msg)
        except ProposalDropped:
            pass

    def propose(self, data: bytes) -> None:
        """Append `data` to the log (leader) or forward it to the leader (follower).
        Raises ProposalDropped when no leader is known or a transfer is in flight."""
        r = self.raft
        r.step(Message(MsgType.PROP, to=r.id, frm=r.id, entries=(Entry(0, 0, EntryType.NORMAL, data),)))

    def propose_conf_change(self, cc: ConfChange) -> None:
        """Propose adding/removing one voter. Raises ProposalDropped when another
        change is still pending on this leader (also right after an election, until
        the new leader has applied its log) or no leader is known: retry later.
        When proposed through a follower, a refused change is silently replaced by an
        empty entry, so the caller must watch for the change to be applied."""
        r = self.raft
        r.step(Message(MsgType.PROP, to=r.id, frm=r.id,
                       entries=(Entry(0, 0, EntryType.CONF_CHANGE, cc.encode()),)))

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        """Tell Raft a CONF_CHANGE entry was applied; returns the new voters."""
        return self.raft.apply_conf_change(cc)

    def read_index(self, ctx: bytes) -> None:
        """Ask for a linearizable read point; a ReadState(index, ctx) appears in a
        later Ready. Raises ProposalDropped when no leader is known."""
        r = self.raft
        if r.lead == NONE:
            raise ProposalDropped("no leader to confirm a read index")
        r.step(Message(MsgType.READ_INDEX, to=r.id, frm=r.id, context=ctx))

    def transfer_leadership(self, to: int) -> None:
        """Ask the leader to hand leadership to `to` (via TIMEOUT_NOW once it caught up)."""
        r = self.raft
        r.step(Message(MsgType.TRANSFER_LEADER, to=r.id, frm=to))

    def report_unreachable(self, node_id: int) -> None:
        r = self.raft
        r.step(Message(MsgType.UNREACHABLE, to=r.id, frm=node_id))

    def report_snapshot(self, node_id: int, failed: bool) -> None:
        r = self.raft
        r.step(Message(MsgType.SNAP_STATUS, to=r.id, frm=node_id, reject=failed))

    # ----------------------------------------------------------------- outputs
    def has_ready(self) -> bool:
        r = self.raft
        if r.bcast_pending or r.forward_buf:
            r.flush()
        log = r.log
        un = log.unstable
        if r.msgs or r.read_states or un.entries or un.snapshot is not None:
            return True
        hs = self._prev_hs
        if r.term != hs.term or r.vote != hs.vote or log.committed != hs.commit:
            return True
        ss = self._prev_ss
        if r.lead != ss.leader or r.role != ss.role:
            return True
        return log.has_next_committed_ents()

    def ready(self) -> Ready:
        """Everything to do now; call advance(rd) after doing it. Hands each
        committed entry and message out exactly once."""
        r = self.raft
        r.flush()
        log = r.log
        hs = r.hard_state()
        ss = r.soft_state()
        entries = log.unstable_entries()
        committed = log.next_committed_ents()
        rd = Ready(
            hard_state=hs if hs != self._prev_hs else None,
            entries=entries,
            snapshot=log.unstable.snapshot,
            committed_entries=committed,
            messages=r.msgs if hs.term == self._prev_hs.term else _current_term_only(r.msgs, hs.term),
            read_states=r.read_states,
            soft_state=ss if ss != self._prev_ss else None,
        )
        rd.must_sync = bool(entries) or hs.term != self._prev_hs.term or hs.vote != self._prev_hs.vote \
            or rd.snapshot is not None
        r.msgs = []
        r.read_states = []
        self._prev_hs = hs
        self._prev_ss = ss
        if committed:
            log.applying = committed[-1].index
        return rd

    def advance(self, rd: Ready) -> None:
        """The app persisted, sent and applied everything in `rd`."""
        log = self.raft.log
        if rd.snapshot is not None:
            log.unstable.stable_snap_to(rd.snapshot.meta.index)
            log.applied_to(rd.snapshot.meta.index)
        if rd.entries:
            last = rd.entries[-1]
            log.unstable.stable_to(last.index, last.term)
            self.raft.persisted()
        if rd.committed_entries:
            log.applied_to(rd.committed_entries[-1].index)

    def status(self) -> Status:
        r = self.raft
        progress = {v: pr.status() for v, pr in r.prs.items()} if r.role == "leader" else {}
        return Status(id=r.id, term=r.term, lead=r.lead, role=r.role, commit=r.log.committed,
                      applied=r.log.applied, progress=progress, vote=r.vote, voters=r.voters,
                      lead_transferee=r.lead_transferee)


def _current_term_only(msgs: list[Message], term: int) -> list[Message]:
    """Drop messages stamped with a term this member left within the same Ready.

    Why: a follower may acknowledge a term-18 append and then, before the Ready is
    persisted, take a term-22 append that truncates that very entry. The Ready's disk
    image then holds term 22's entry, so the term-18 ack would promise an entry that
    is not on disk, and a term-18 leader still counting votes could commit it
    (sim seed 127160152). Raft tolerates lost messages, so dropping them is safe; a
    message without a term (forwarded proposals, reads, transfers) is kept.
    """
    return [m for m in msgs if not 0 < m.term < term]
