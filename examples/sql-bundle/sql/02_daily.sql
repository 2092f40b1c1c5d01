INSERT INTO daily_trips (day, trips, km)
SELECT date_trunc('day', pickup_at), count(*), sum(distance_km)
FROM trips
GROUP BY 1
ON CONFLICT (day) DO UPDATE SET trips = EXCLUDED.trips, km = EXCLUDED.km;
