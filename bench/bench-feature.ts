/** The value of `country` the benchmark rows cycle through. */
export const benchCountries = ['KR', 'JP', 'US', 'DE', 'BR', 'IN', 'FR', 'GB'];

/** The benchmarks' Object feature: a Long key and five value fields, upsynced from `sourceTable`. */
export const benchFeatureYaml = (name: string, sourceTable: string): string => `
${name}:
  feature_type: Object
  owner: bench
  schema:
    user_id: { type: Long, is_key_field: true }
    level: { type: Long, default_value: 0 }
    score: { type: Double, default_value: 0.0 }
    country: { type: Text, default_value: "XX" }
    active: { type: Boolean, default_value: false }
    last_seen_at: { type: Timestamp, default_value: "1970-01-01T00:00:00Z" }
  upsync:
    enabled: true
    incremental_update: true
    source: { table: ${sourceTable} }
`;
