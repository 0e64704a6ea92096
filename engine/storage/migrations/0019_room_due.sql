-- When each waiting room next has something to do by itself (issue 14): its opening, its
-- first admission to expire, its next admission at `admitPerMinute` — the `next_due` its
-- owning actor arms a timer for, written in the same group commit. A worker's sweep wakes
-- the owner of every room more than a grace past it, as it does for overdue holds: when a
-- worker's host vanishes, the standby that takes its queues knows nothing of the rooms, and
-- buyers who only read their place (answered by the gateways) send the event no command.
ALTER TABLE queue_rooms ADD COLUMN due_at timestamptz;

-- Partial: a closed room, or one with nothing pending, has no entry.
CREATE INDEX queue_rooms_due ON queue_rooms (due_at) WHERE due_at IS NOT NULL;
