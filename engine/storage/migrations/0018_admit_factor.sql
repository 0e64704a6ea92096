-- The waiting room's admission factor as a setting of the event (`waitingRoom.admitFactor`,
-- issue 14): never more admitted-but-unused buyers than seats left times this. Below 1 the
-- last seats could never be offered (1 seat x 0.9 admits nobody); above 10 a sale would
-- admit far more buyers than it can serve, who mostly hear "sold out" after their turn.
ALTER TABLE events
    ADD COLUMN admit_factor double precision NOT NULL DEFAULT 2
        CONSTRAINT admit_factor_range CHECK (admit_factor BETWEEN 1 AND 10);
