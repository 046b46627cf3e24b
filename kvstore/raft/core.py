"""The Raft state machine of one member (the design of etcd raft, written anew).

Why this shape: every input arrives through `step(msg)` (or `tick()`, which turns
elapsed logical time into local messages), and every effect is an entry appended
to the log or a message appended to `msgs`; nothing here touches a clock, a
socket, a disk or a global random source, so the simulator can replay any run
from a seed. The role is not a class hierarchy: `_step_role` and `_tick` are
swapped when the role changes, which keeps the per-message path short.

Protocol features: pre-vote and check-quorum (with the lease guard that makes
followers ignore votes while a live leader is heard from), randomized election
timeouts in [election_tick, 2*election_tick), conflict back-off using the
follower's (index, term) hint, probe/replicate/snapshot progress with an inflight
window, commit only of current-term entries by counting, InstallSnapshot,
ReadIndex, leadership transfer, proposal forwarding, one pending conf change.
Batching: proposals only append, and an ack that advances the commit index only
marks a broadcast; the broadcast of appends (and forwarded proposals) is done once
per Ready by `flush()`, so a burst of proposals and acks leaves as one
AppendEntries per follower.

The leader's own copy: an entry the leader appends counts toward the commit quorum
only once the app has made it durable (`persisted`, from `RawNode.advance`), not when
it is appended. So the app may send a leader's appends before its own fsync (Raft
thesis 10.2.1): the leader's and the followers' fsyncs overlap, and a leader that
crashes (or whose disk fails) before its fsync has committed nothing on its own copy.

Commit notices: an entry-less append that a broadcast sends to a follower in
REPLICATE state only carries the commit index (the follower already has, or was
already sent, every entry). Its answer could tell the leader nothing new -- in
REPLICATE an empty append takes no inflight slot and a stale ack changes no
progress -- so the leader marks it (`COMMIT_NOTICE`) and the follower does not
answer it when it accepts it (a rejection is still answered). Under load that was
half of every follower's acks, each a peer-stream write on one side and a read
on the other. A lost ack is still repaired as before: heartbeat answers make the
leader send an unmarked append when `match` lags, and a broken stream reports
the peer unreachable (back to PROBE, whose appends are never marked).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from kvstore.raft import election, membership, quorum, readonly
from kvstore.raft.config import Config
from kvstore.raft.election import TRANSFER_CTX
from kvstore.raft.errors import Compacted, ProposalDropped, RaftError
from kvstore.raft.log import RaftLog
from kvstore.raft.progress import PROBE, REPLICATE, SNAPSHOT, Progress, expire_snapshots
from kvstore.raft.types import (
    COMMIT_NOTICE,
    NONE,
    ConfChange,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MsgType,
    ReadState,
    Role,
    Snapshot,
    SoftState,
)

SNAPSHOT_TIMEOUT_ROUNDS = 5
"""Election timeouts without a report_snapshot before a pending snapshot counts as failed."""

_M = MsgType


class Raft:
    """One member's Raft state. Use through `RawNode`; tests may drive it directly."""

    def __init__(self, cfg: Config) -> None:
        cfg.validate()
        self.id = cfg.id
        self.cfg = cfg
        self.rng = cfg.rng if cfg.rng is not None else random.Random(cfg.id)
        self.log = RaftLog(cfg.storage, cfg.max_committed_size_per_ready)
        self.max_msg_size = cfg.max_size_per_msg
        self.max_inflight = cfg.max_inflight_msgs
        self.election_timeout = cfg.election_tick
        self.heartbeat_timeout = cfg.heartbeat_tick
        self.check_quorum = cfg.check_quorum
        self.pre_vote = cfg.pre_vote

        self.term = 0
        self.vote = NONE
        self.lead = NONE
        self.role: Role = "follower"
        self.voters: tuple[int, ...] = ()
        self.prs: dict[int, Progress] = {}
        self.votes: dict[int, bool] = {}
        self.msgs: list[Message] = []
        self.read_states: list[ReadState] = []
        self.lead_transferee = NONE
        self.pending_timeout_now: tuple[int, int, int] | None = None
        """A hand-off waiting for the entry it names: (index, term, ticks left) (`election.timeout_now`)."""
        self.pending_conf_index = 0
        self.read_only = readonly.ReadOnly()
        self.pending_read_index: list[Message] = []
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = self.election_timeout
        self.bcast_pending = False
        self.forward_buf: list[Entry] = []
        self._step_role: Callable[[Message], None] = self._step_follower
        self._tick: Callable[[], None] = self._tick_election

        hs, cs = cfg.storage.initial_state()
        self.voters = tuple(sorted(cs.voters))
        if hs != HardState():
            if hs.commit > self.log.last_index():
                raise RaftError(f"hard state commit {hs.commit} beyond last index {self.log.last_index()}")
            # A snapshot is committed by definition, even if the saved commit is older.
            self.log.committed = max(hs.commit, self.log.committed)
            self.term = hs.term
            self.vote = hs.vote
        if cfg.applied > 0:
            if cfg.applied > self.log.committed:
                raise RaftError(f"applied {cfg.applied} beyond committed {self.log.committed}")
            self.log.applied_to(cfg.applied)
        self.become_follower(self.term, NONE)

    # ================================================================= state views
    def soft_state(self) -> SoftState:
        return SoftState(self.lead, self.role)

    def hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.log.committed)

    def promotable(self) -> bool:
        """May this member campaign? Only a voter whose snapshot is not pending."""
        return self.id in self.prs and self.log.unstable.snapshot is None

    def conf_state(self) -> ConfState:
        return ConfState(self.voters)

    # ================================================================= output
    def send(self, m: Message) -> None:
        self.msgs.append(m)

    def flush(self) -> None:
        """Send what proposals accumulated: one append per follower, one forwarded
        PROP to the leader. Called by RawNode before building a Ready."""
        if self.bcast_pending:
            self.bcast_pending = False
            if self.role == "leader":
                self.bcast_append()
        if self.forward_buf:
            ents, self.forward_buf = tuple(self.forward_buf), []
            if self.lead != NONE and self.role == "follower":
                self.send(Message(_M.PROP, to=self.lead, frm=self.id, entries=ents))

    def has_pending_flush(self) -> bool:
        return self.bcast_pending or bool(self.forward_buf)

    def send_append(self, to: int, notice: bool = False) -> None:
        self.maybe_send_append(to, True, notice)

    def maybe_send_append(self, to: int, send_if_empty: bool, notice: bool = False) -> bool:
        """Send the entries `to` is missing (or a snapshot if they are compacted). With `notice`
        an entry-less append to a replicating follower is a commit notice (see module doc)."""
        pr = self.prs[to]
        if pr.is_paused():
            return False
        log = self.log
        prev = pr.next - 1
        try:
            prev_term = log.term(prev)
            ents = log.entries(pr.next, self.max_msg_size)
        except Compacted:
            return self._send_snapshot(to, pr)
        if not ents and not send_if_empty:
            return False
        ctx = COMMIT_NOTICE if notice and not ents and pr.state == REPLICATE else b""
        self.send(Message(_M.APP, to=to, frm=self.id, term=self.term, log_term=prev_term, index=prev,
                          entries=tuple(ents), commit=log.committed, context=ctx))
        if ents:
            pr.sent_entries(ents[-1].index)
        elif pr.state == PROBE:
            pr.probe_sent = True
        return True

    def _send_snapshot(self, to: int, pr: Progress) -> bool:
        if not pr.recent_active:
            return False  # do not ship a snapshot to a member that seems down
        snap = self.log.snapshot()
        if snap.meta.index == 0:
            return False
        self.send(Message(_M.SNAP, to=to, frm=self.id, term=self.term, snapshot=snap))
        pr.become_snapshot(snap.meta.index)
        return True

    def send_heartbeat(self, to: int, ctx: bytes) -> None:
        # Never let a heartbeat commit past what the follower is known to have.
        commit = min(self.prs[to].match, self.log.committed)
        self.send(Message(_M.HEARTBEAT, to=to, frm=self.id, term=self.term, commit=commit, context=ctx))

    def bcast_append(self) -> None:
        for v in self.prs:
            if v != self.id:
                self.send_append(v, notice=True)

    def bcast_heartbeat(self, ctx: bytes | None = None) -> None:
        if ctx is None:
            ctx = self.read_only.last_pending_ctx()
        for v in self.prs:
            if v != self.id:
                self.send_heartbeat(v, ctx)

    # ================================================================= role changes
    def _reset(self, term: int) -> None:
        if self.term != term:
            self.term = term
            self.vote = NONE
        self.lead = NONE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = self.election_timeout + self.rng.randrange(self.election_timeout)
        self.lead_transferee = NONE
        self.votes = {}
        self.pending_timeout_now = None
        last = self.log.last_index()
        self.prs = {}
        for v in self.voters:
            pr = Progress(last + 1, self.max_inflight)
            if v == self.id:
                pr.match = self.log.stable_last_index()  # counts once durable (`persisted`)
                pr.recent_active = True
            self.prs[v] = pr
        self.pending_conf_index = 0
        self.read_only = readonly.ReadOnly()
        self.pending_read_index = []  # their requesters time out and retry with the new leader
        self.bcast_pending = False

    def become_follower(self, term: int, lead: int) -> None:
        self._step_role = self._step_follower
        self._reset(term)
        self._tick = self._tick_election
        self.lead = lead
        self.role = "follower"

    def become_pre_candidate(self) -> None:
        if self.role == "leader":
            raise RaftError("leader cannot become pre-candidate")
        # Pre-vote changes neither term nor vote: a partitioned member cannot inflate terms.
        self._step_role = self._step_candidate
        self.votes = {}
        self._tick = self._tick_election
        self.lead = NONE
        self.role = "pre_candidate"

    def become_candidate(self) -> None:
        if self.role == "leader":
            raise RaftError("leader cannot become candidate")
        self._step_role = self._step_candidate
        self._reset(self.term + 1)
        self._tick = self._tick_election
        self.vote = self.id
        self.role = "candidate"

    def become_leader(self) -> None:
        if self.role == "follower":
            raise RaftError("follower cannot become leader directly")
        self._step_role = self._step_leader
        self._reset(self.term)
        self._tick = self._tick_heartbeat
        self.lead = self.id
        self.role = "leader"
        self.prs[self.id].become_replicate()
        # Entries after our commit may hold an unapplied conf change: be conservative.
        self.pending_conf_index = self.log.last_index()
        # The no-op of this term: committing it commits every earlier entry (§5.4.2).
        self.append_entries([Entry(0, 0)])

    # ================================================================= ticks
    def tick(self) -> None:
        self._tick()

    def past_election_timeout(self) -> bool:
        return self.election_elapsed >= self.randomized_election_timeout

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        election.tick_timeout_now(self)
        if self.promotable() and self.past_election_timeout():
            self.election_elapsed = 0
            self.step(Message(_M.HUP, to=self.id, frm=self.id))

    def _tick_heartbeat(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.election_timeout:
            self.election_elapsed = 0
            if self.check_quorum:
                self.step(Message(_M.CHECK_QUORUM, to=self.id, frm=self.id))
            if self.role == "leader" and self.lead_transferee != NONE:
                self.lead_transferee = NONE  # the transfer did not finish in time
            if self.role == "leader":
                expire_snapshots(self.prs.values(), SNAPSHOT_TIMEOUT_ROUNDS)
        if self.role != "leader":
            return
        if self.heartbeat_elapsed >= self.heartbeat_timeout:
            self.heartbeat_elapsed = 0
            self.step(Message(_M.BEAT, to=self.id, frm=self.id))

    # ================================================================= step
    def step(self, m: Message) -> None:
        """Feed one message. Raises ProposalDropped for a PROP that cannot be accepted."""
        if m.term == 0:
            pass  # local message (or a forwarded PROP / READ_INDEX)
        elif m.term > self.term:
            if m.type in (_M.VOTE, _M.PRE_VOTE):
                force = m.context == TRANSFER_CTX
                in_lease = self.check_quorum and self.lead != NONE and \
                    self.election_elapsed < self.election_timeout
                if not force and in_lease:
                    return  # lease guard: a live leader exists, ignore the disruption
            if m.type == _M.PRE_VOTE or (m.type == _M.PRE_VOTE_RESP and not m.reject):
                pass  # pre-vote traffic never changes our term
            elif m.type in (_M.APP, _M.HEARTBEAT, _M.SNAP):
                self.become_follower(m.term, m.frm)
            elif m.type == _M.VOTE:
                # Adopt the term but keep our election clock unless we grant the vote
                # (Raft §5.2): a member with the freshest log must still get to time out
                # while stale candidates keep bumping the term.
                elapsed = self.election_elapsed
                self.become_follower(m.term, NONE)
                self.election_elapsed = elapsed
            else:
                self.become_follower(m.term, NONE)
        elif m.term < self.term:
            if (self.check_quorum or self.pre_vote) and m.type in (_M.HEARTBEAT, _M.APP):
                # A stale leader (e.g. back from a partition) learns our term and steps down.
                self.send(Message(_M.APP_RESP, to=m.frm, frm=self.id, term=self.term))
            elif m.type in (_M.PRE_VOTE, _M.VOTE):
                # Refuse with our term (Raft §5.1) instead of ignoring: a candidate we do not
                # answer never learns the term it must exceed. A member that missed the
                # changes which made it a voter of the candidate's configuration campaigns
                # only among its stale voters, so without this reply the two of them keep
                # bumping their terms apart forever (seed 3002450).
                resp = _M.PRE_VOTE_RESP if m.type == _M.PRE_VOTE else _M.VOTE_RESP
                self.send(Message(resp, to=m.frm, frm=self.id, term=self.term, reject=True))
            return

        t = m.type
        if t == _M.HUP:
            election.hup(self, transfer=False)
        elif t == _M.VOTE or t == _M.PRE_VOTE:
            election.answer_vote(self, m)
        else:
            self._step_role(m)

    # ----------------------------------------------------------------- leader
    def _step_leader(self, m: Message) -> None:
        t = m.type
        if t == _M.BEAT:
            self.bcast_heartbeat()
            return
        if t == _M.CHECK_QUORUM:
            if not self._quorum_active():
                self.become_follower(self.term, NONE)
            for v, other in self.prs.items():
                if v != self.id:
                    other.recent_active = False
            return
        if t == _M.PROP:
            self._leader_propose(m)
            return
        if t == _M.READ_INDEX:
            readonly.leader_read_index(self, m)
            return

        pr = self.prs.get(m.frm)
        if pr is None:
            return  # from a member not (or no longer) in the configuration
        if t == _M.APP_RESP:
            self._handle_append_response(m, pr)
        elif t == _M.HEARTBEAT_RESP:
            pr.recent_active = True
            pr.probe_sent = False
            if pr.state == REPLICATE and pr.inflights.full():
                pr.inflights.free_first_one()  # one slot so a lost append gets retried
            if pr.match < self.log.last_index():
                self.send_append(m.frm)
            if m.context:
                acks = self.read_only.recv_ack(m.frm, m.context)
                if acks is not None and quorum.has_quorum(self.voters, acks):
                    for rs in self.read_only.advance(m.context):
                        readonly.respond(self, rs.req, rs.index)
        elif t == _M.SNAP_STATUS:
            if pr.state != SNAPSHOT:
                return
            if m.reject:
                pr.pending_snapshot = 0
            pr.become_probe()
            # Wait for the follower's append response (or a heartbeat) before probing again.
            pr.probe_sent = True
        elif t == _M.UNREACHABLE:
            if pr.state == REPLICATE:
                pr.become_probe()
        elif t == _M.TRANSFER_LEADER:
            self._leader_transfer(m.frm, pr)

    def _leader_propose(self, m: Message) -> None:
        if not m.entries:
            raise RaftError("empty proposal")
        if self.id not in self.prs:
            raise ProposalDropped("this member was removed from the configuration")
        if self.lead_transferee != NONE:
            raise ProposalDropped(f"leadership transfer to {self.lead_transferee} in progress")
        ents = list(m.entries)
        for i, e in enumerate(ents):
            if e.type == EntryType.CONF_CHANGE:
                if membership.is_bootstrap(e):
                    # Only bootstrap() writes the first configuration; proposed later it would
                    # replace the voters wholesale, which single-step changes must never do.
                    if m.frm == self.id and len(ents) == 1:
                        raise ProposalDropped("a bootstrap configuration cannot be proposed")
                    ents[i] = Entry(0, 0)
                elif self.pending_conf_index > self.log.applied:
                    if m.frm == self.id and len(ents) == 1:
                        raise ProposalDropped("a configuration change is already pending")
                    ents[i] = Entry(0, 0)  # neutralise it; keep the rest of the batch
                else:
                    self.pending_conf_index = self.log.last_index() + i + 1
        self.append_entries(ents)
        self.bcast_pending = True

    def append_entries(self, ents: list[Entry]) -> None:
        """Stamp proposals with our term and the next indexes and append them. They count toward
        the commit quorum as our own copy only once on our disk (`persisted`), so the app may
        send them to followers before its fsync (see module doc)."""
        li = self.log.last_index()
        term = self.term
        self.log.append([Entry(term, li + 1 + i, e.type, e.data) for i, e in enumerate(ents)])

    def persisted(self) -> None:
        """The app made our log durable up to `log.stable_last_index()` (RawNode.advance): as
        leader, our own copy now counts toward the commit quorum."""
        if self.role == "leader" and self.prs[self.id].maybe_update(self.log.stable_last_index()) \
                and self.maybe_commit():
            self.bcast_pending = True  # tell the followers the new commit index (`flush`)

    def maybe_commit(self) -> bool:
        match = {v: pr.match for v, pr in self.prs.items()}
        mci = quorum.committed_index(self.voters, match)
        if self.log.maybe_commit(mci, self.term):
            readonly.release_pending(self)
            return True
        return False

    def _quorum_active(self) -> bool:
        return quorum.has_quorum(self.voters, (v for v, pr in self.prs.items()
                                               if v == self.id or pr.recent_active))

    def _handle_append_response(self, m: Message, pr: Progress) -> None:
        pr.recent_active = True
        if m.reject:
            hint = m.reject_hint
            if m.log_term > 0:
                hint, _ = self.log.find_conflict_by_term(m.reject_hint, m.log_term)
            if pr.maybe_decr_to(m.index, hint):
                if pr.state == REPLICATE:
                    pr.become_probe()
                self.send_append(m.frm)
            return
        old_paused = pr.is_paused()
        if not pr.maybe_update(m.index):
            return
        if pr.state == PROBE:
            pr.become_replicate()
        elif pr.state == SNAPSHOT and pr.match + 1 >= self.log.first_index():
            # The follower can continue from our log (the snapshot, or something newer, arrived).
            pr.become_probe()
            pr.become_replicate()
        elif pr.state == REPLICATE:
            pr.inflights.free_le(m.index)
        if self.maybe_commit():
            self.bcast_pending = True  # tell everyone the new commit index, once per Ready (`flush`)
        elif old_paused:
            self.send_append(m.frm)
        # Keep the pipe full while the window allows.
        while self.maybe_send_append(m.frm, False):
            pass
        if m.frm == self.lead_transferee and pr.match == self.log.last_index():
            self.send(Message(_M.TIMEOUT_NOW, to=m.frm, frm=self.id, term=self.term))

    def _leader_transfer(self, transferee: int, pr: Progress) -> None:
        if self.lead_transferee != NONE:
            if self.lead_transferee == transferee:
                return
            self.lead_transferee = NONE
        if transferee == self.id:
            return
        # The transfer must finish within one election timeout or it is abandoned.
        self.election_elapsed = 0
        self.lead_transferee = transferee
        if pr.match == self.log.last_index():
            self.send(Message(_M.TIMEOUT_NOW, to=transferee, frm=self.id, term=self.term))
        else:
            self.send_append(transferee)

    # ----------------------------------------------------------------- candidate
    def _step_candidate(self, m: Message) -> None:
        t = m.type
        my_resp = _M.PRE_VOTE_RESP if self.role == "pre_candidate" else _M.VOTE_RESP
        if t == _M.PROP:
            raise ProposalDropped("no leader (election in progress)")
        if t == _M.APP:
            self.become_follower(m.term, m.frm)
            self._handle_append(m)
        elif t == _M.HEARTBEAT:
            self.become_follower(m.term, m.frm)
            self._handle_heartbeat(m)
        elif t == _M.SNAP:
            self.become_follower(m.term, m.frm)
            self._handle_snapshot(m)
        elif t == my_resp:
            res = election.poll(self, m.frm, not m.reject)
            if res == quorum.VoteResult.WON:
                if self.role == "pre_candidate":
                    election.campaign(self, pre=False, transfer=False)
                else:
                    self.become_leader()
                    self.bcast_append()
            elif res == quorum.VoteResult.LOST:
                self.become_follower(self.term, NONE)

    # ----------------------------------------------------------------- follower
    def _step_follower(self, m: Message) -> None:
        t = m.type
        if t == _M.PROP:
            if self.lead == NONE:
                raise ProposalDropped("no leader")
            if self.id not in self.prs:
                raise ProposalDropped("this member was removed from the configuration")
            self.forward_buf.extend(m.entries)  # sent as one PROP by flush()
        elif t == _M.APP:
            self.election_elapsed = 0
            self.lead = m.frm
            self._handle_append(m)
        elif t == _M.HEARTBEAT:
            self.election_elapsed = 0
            self.lead = m.frm
            self._handle_heartbeat(m)
        elif t == _M.SNAP:
            self.election_elapsed = 0
            self.lead = m.frm
            self._handle_snapshot(m)
        elif t == _M.TRANSFER_LEADER:
            if self.lead != NONE:
                self.send(Message(_M.TRANSFER_LEADER, to=self.lead, frm=m.frm))
        elif t == _M.TIMEOUT_NOW:
            election.timeout_now(self, m)
        elif t == _M.READ_INDEX:
            if self.lead == NONE:
                if m.frm == self.id:
                    raise ProposalDropped("no leader to confirm a read index")
                return
            # Keep the requester as sender so the leader answers it directly. Our own request
            # carries our term: the leader counts it as our heartbeat ack (`readonly`).
            own = m.frm in (NONE, self.id)
            self.send(Message(_M.READ_INDEX, to=self.lead, frm=m.frm or self.id,
                              term=self.term if own else 0, context=m.context))
        elif t == _M.READ_INDEX_RESP:
            self.read_states.append(ReadState(m.index, m.context))

    def _handle_append(self, m: Message) -> None:
        log = self.log
        if m.index < log.committed:
            self.send(Message(_M.APP_RESP, to=m.frm, frm=self.id, term=self.term, index=log.committed))
            return
        last_new = log.maybe_append(m.index, m.log_term, m.commit, m.entries)
        if last_new is not None:
            if self.pending_timeout_now is not None:
                election.deferred_hup(self)  # the entries a hand-off waited for (only acks after)
            if m.context == COMMIT_NOTICE and not m.entries:
                return  # the leader needs no answer (see module doc)
            self.send(Message(_M.APP_RESP, to=m.frm, frm=self.id, term=self.term, index=last_new))
            return
        # Mismatch: hint the leader at the last entry that could match (fast back-off).
        hint_index = min(m.index, log.last_index())
        hint_index, hint_term = log.find_conflict_by_term(hint_index, m.log_term)
        self.send(Message(_M.APP_RESP, to=m.frm, frm=self.id, term=self.term, index=m.index, reject=True,
                          reject_hint=hint_index, log_term=hint_term))

    def _handle_heartbeat(self, m: Message) -> None:
        self.log.commit_to(min(m.commit, self.log.last_index()))
        self.send(Message(_M.HEARTBEAT_RESP, to=m.frm, frm=self.id, term=self.term, context=m.context))

    def _handle_snapshot(self, m: Message) -> None:
        if m.snapshot is not None and self.restore(m.snapshot):
            self.send(Message(_M.APP_RESP, to=m.frm, frm=self.id, term=self.term,
                              index=self.log.last_index()))
        else:
            self.send(Message(_M.APP_RESP, to=m.frm, frm=self.id, term=self.term, index=self.log.committed))

    def restore(self, s: Snapshot) -> bool:
        """Install a snapshot from the leader; False if we already have its contents."""
        meta = s.meta
        if meta.index <= self.log.committed:
            return False
        if self.role != "follower":
            self.become_follower(self.term + 1, NONE)  # defensive: only followers restore
            return False
        if self.log.match_term(meta.index, meta.term):
            # We have the entries already: just fast-forward the commit index.
            self.log.commit_to(meta.index)
            return False
        self.log.restore(s)
        self.set_voters(meta.conf_state.voters)
        return True

    # ================================================================= membership
    def set_voters(self, voters: tuple[int, ...]) -> None:
        membership.set_voters(self, voters)

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        """Apply a committed CONF_CHANGE entry (called by the app, in log order)."""
        return membership.apply_conf_change(self, cc)

    def bootstrap(self, peers: list[int]) -> None:
        membership.bootstrap(self, peers)
