-- azar::user-profile: the profile of every user whose profile or matches changed in the window,
-- as of the window's end. Age is counted in whole calendar years at the logical date; the average
-- chat time covers every match before the window's end. The event time is the user's latest change.
-- ferry:destination azar__user_profile__upsync
-- ferry:write_mode replace
-- ferry:params logical_date, window_start, window_end
WITH changed AS (
  SELECT user_id FROM raw_users
  WHERE updated_at >= @window_start AND updated_at < @window_end
  UNION DISTINCT
  SELECT user_id FROM raw_match_events
  WHERE event_time >= @window_start AND event_time < @window_end
),
latest_profile AS (
  SELECT user_id, gender, country_code, birth_year, level, updated_at
  FROM (
    SELECT
      user_id, gender, country_code, birth_year, level, updated_at,
      ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY updated_at DESC) AS rn
    FROM raw_users
    WHERE updated_at < @window_end
  ) AS ranked
  WHERE rn = 1
),
matches AS (
  SELECT user_id, AVG(chat_duration_sec) AS avg_chat_sec, MAX(event_time) AS last_match_at
  FROM raw_match_events
  WHERE event_time < @window_end
  GROUP BY user_id
)
SELECT
  c.user_id,
  p.gender,
  p.country_code,
  CAST(EXTRACT(YEAR FROM @logical_date) - p.birth_year AS INT64) AS age,
  p.level,
  m.avg_chat_sec,
  -- GREATEST of a NULL differs between engines (BigQuery: NULL); COALESCE makes both sides set
  UNIX_MILLIS(GREATEST(
    COALESCE(p.updated_at, m.last_match_at),
    COALESCE(m.last_match_at, p.updated_at)
  )) AS _last_updated_at_ms
FROM changed AS c
LEFT JOIN latest_profile AS p ON p.user_id = c.user_id
LEFT JOIN matches AS m ON m.user_id = c.user_id
