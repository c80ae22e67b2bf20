-- azar-lounge::user-interaction: lounge interactions per user over the 7 days before the window's end.
-- Every user with an event in [window_start - 7 days, window_end) gets a row, so that a user whose
-- last event leaves the 7 days since the previous run is written again with zero counts.
-- like_back_ratio_7d: of the users who liked this user, the share this user liked too.
-- profile_view_count_7d: profiles this user viewed. The event time is the window's end.
-- ferry:destination azar_lounge__user_interaction__upsync
-- ferry:write_mode replace
-- ferry:params window_start, window_end
WITH scanned AS (
  SELECT user_id, target_user_id, event_type, event_time
  FROM raw_lounge_events
  WHERE event_time >= @window_start - INTERVAL 7 DAY
    AND event_time < @window_end
),
recent AS (
  SELECT user_id, target_user_id, event_type, event_time
  FROM scanned
  WHERE event_time >= @window_end - INTERVAL 7 DAY
),
users AS (
  SELECT user_id FROM scanned
  UNION DISTINCT
  SELECT target_user_id AS user_id FROM scanned WHERE target_user_id IS NOT NULL
),
sent AS (
  SELECT
    user_id,
    COUNTIF(event_type = 'like') AS sent_like_count_7d,
    COUNTIF(event_type = 'profile_view') AS profile_view_count_7d
  FROM recent
  GROUP BY user_id
),
received AS (
  SELECT target_user_id AS user_id, COUNT(*) AS received_like_count_7d, COUNT(DISTINCT user_id) AS likers
  FROM recent
  WHERE event_type = 'like'
  GROUP BY target_user_id
),
liked_back AS (
  SELECT r.target_user_id AS user_id, COUNT(DISTINCT r.user_id) AS answered
  FROM recent AS r
  JOIN recent AS b
    ON b.user_id = r.target_user_id AND b.target_user_id = r.user_id AND b.event_type = 'like'
  WHERE r.event_type = 'like'
  GROUP BY r.target_user_id
),
last_seen AS (
  SELECT user_id, MAX(event_time) AS last_interaction_at
  FROM scanned
  GROUP BY user_id
)
SELECT
  u.user_id,
  COALESCE(s.sent_like_count_7d, 0) AS sent_like_count_7d,
  COALESCE(rc.received_like_count_7d, 0) AS received_like_count_7d,
  COALESCE(s.profile_view_count_7d, 0) AS profile_view_count_7d,
  COALESCE(lb.answered / NULLIF(rc.likers, 0), 0.0) AS like_back_ratio_7d,
  l.last_interaction_at,
  UNIX_MILLIS(@window_end) AS _last_updated_at_ms
FROM users AS u
LEFT JOIN sent AS s ON s.user_id = u.user_id
LEFT JOIN received AS rc ON rc.user_id = u.user_id
LEFT JOIN liked_back AS lb ON lb.user_id = u.user_id
LEFT JOIN last_seen AS l ON l.user_id = u.user_id
