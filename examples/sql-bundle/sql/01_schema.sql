CREATE TABLE IF NOT EXISTS trips (
  trip_id      BIGINT PRIMARY KEY,
  pickup_at    TIMESTAMPTZ NOT NULL,
  dropoff_at   TIMESTAMPTZ NOT NULL,
  distance_km  NUMERIC(8, 2) NOT NULL,
  fare_cents   INTEGER NOT NULL
);
