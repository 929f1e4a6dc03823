// Package coord is Weir's group coordinator: Kafka's classic consumer
// group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) with its
// state machine, and committed offsets stored as records of the internal
// topic __consumer_offsets in Kafka's own record format.
//
// # Model
//
// The Coordinator is a deterministic state machine: every request handler
// and Tick take the current time as an argument (the caller's clock), and
// responses are delivered through callbacks, possibly later (a JoinGroup
// waits for the rebalance to complete, a SyncGroup for the leader's
// assignment, an OffsetCommit for its record to be durable). Nothing in the
// package reads the clock: Run wraps a Coordinator with a ticker for
// production use, and tests drive Tick directly. Responses that wait for
// the offsets log are delivered from the log's flusher goroutine (or a
// short-lived goroutine when the log is already durable), in log order.
//
// Slices: the Coordinator copies every byte slice of a request it keeps
// (protocol metadata, assignments), so a request may alias a buffer the
// caller reuses once the call returns (the broker decodes in place from a
// network buffer). Responses may share bytes with the Coordinator's state;
// the caller must not modify them.
//
// Group states (as in Kafka):
//
//	Empty ──join──▶ PreparingRebalance ──all joined / rebalance timeout──▶ CompletingRebalance
//	  ▲                  ▲     │                                                  │ leader's SyncGroup
//	  │   last member    │     └── no members left ──▶ Empty                      ▼
//	  └── leaves/expires ┴──── member joins, leaves, expires, changes ◀──────── Stable
//	Dead: deleted (DeleteGroups) or expired offsets of an empty group.
//
// Liveness: a member with no heartbeat (or join/sync) for its session
// timeout is removed and the group rebalances; during a rebalance, members
// that do not rejoin within the rebalance timeout are dropped; LeaveGroup
// rebalances at once; static members (group.instance.id) that rejoin within
// their session timeout take their old place without a rebalance.
//
// # Persistence
//
// Each OffsetCommit appends records (key: group, topic, partition; value:
// offset, leader epoch, metadata, commit time) to the __consumer_offsets
// log and is answered only once they are durable. Each completed rebalance
// appends the group's metadata record (generation, protocol, leader,
// members with subscriptions and assignments). Deletions are tombstones.
// At startup the log is replayed. The log is kept small by rewriting the
// live state when it has grown past a threshold and deleting the prefix
// (equivalent to compaction for this topic); the rewrite repeats the
// records of appends still in flight, so nothing below its start is lost.
//
// Concurrency: a Coordinator is safe for concurrent use; one mutex guards
// all groups. Callbacks are invoked without the mutex held.
package coord
