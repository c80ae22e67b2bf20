-- azar-lounge::user-stats: card impressions, clicks and active days per user over the 30 days
-- before the window's end. Every user active in [window_start - 30 days, window_end) gets a row
-- (zeros once their activity leaves the 30 days). Appended: the table keeps one snapshot per run,
-- each with the window's end as its event time, which training joins point-in-time. Running a
-- window again appends its snapshot again (same values and event time: harmless to upsync).
-- ferry:destination azar_lounge__user_stats__upsync
-- ferry:write_mode append
-- ferry:params window_start, window_end
WITH scanned AS (
  SELECT user_id, event_type, event_time
  FROM raw_lounge_events
  WHERE event_time >= @window_start - INTERVAL 30 DAY
    AND event_time < @window_end
),
stats AS (
  SELECT
    user_id,
    COUNTIF(event_type = 'impression') AS impressions,
    COUNTIF(event_type = 'click') AS clicks,
    COUNT(DISTINCT DATE(event_time)) AS active_days
  FROM scanned
  WHERE event_time >= @window_end - INTERVAL 30 DAY
  GROUP BY user_id
),
users AS (
  SELECT DISTINCT user_id FROM scanned
)
SELECT
  u.user_id,
  COALESCE(s.impressions, 0) AS card_impression_count_30d,
  COALESCE(s.clicks, 0) AS card_click_count_30d,
  COALESCE(s.clicks / NULLIF(s.impressions, 0), 0.0) AS click_rate_30d,
  CAST(COALESCE(s.active_days, 0) AS INT64) AS active_days_30d,
  UNIX_MILLIS(@window_end) AS _last_updated_at_ms
FROM users AS u
LEFT JOIN stats AS s ON s.user_id = u.user_id
