/** The OpenAPI 3.1 description of the read API, served at /openapi.json. */

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

const commonErrors = {
  '400': errorResponse('Malformed JSON, a wrong shape or value (`error.field` names it), too many keys'),
  '401': errorResponse('No bearer token, a malformed Authorization header, or an unknown token'),
  '403': errorResponse(
    'The service may not use a feature. Also the answer for an unknown feature to a service that may not read every feature, so nobody learns whether a feature they may not read exists',
  ),
  '404': errorResponse('Unknown feature; only to services that may read every served feature'),
  '503': errorResponse(
    'The online store failed or did not answer in time (Retry-After: 1), or the reader is starting',
  ),
};

const lookupRequestItem = {
  type: 'object',
  required: ['feature', 'keys'],
  additionalProperties: false,
  properties: {
    feature: {
      type: 'string',
      description: 'Full name (`namespace::name`) or the part after `::` when unambiguous',
      examples: ['azar::user-profile'],
    },
    keys: {
      type: 'array',
      minItems: 1,
      description:
        'Keys to look up: maps of every key field, or bare values when the feature has one key field',
      items: {
        oneOf: [{ type: 'object', additionalProperties: true }, { type: ['string', 'number', 'boolean'] }],
      },
      examples: [
        [{ user_id: 1001 }, { user_id: 1002 }],
        [1001, 1002],
      ],
    },
    fields: {
      type: 'array',
      items: { type: 'string' },
      description: 'Projection: only these value fields, in this order',
    },
    limit: {
      type: 'integer',
      minimum: 1,
      description: 'History features: the newest N entries (at most the feature keeps)',
    },
  },
};

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Ferry read API',
    version: '1',
    description:
      'Online feature lookups for recommendation servers, and a push endpoint for producers that do not speak Kafka. ' +
      'Every /v1 route needs `Authorization: Bearer <token>`; tokens are configured as SHA-256 hashes mapped to services, ' +
      "and each feature's `access` block lists the services that may read and write it.",
  },
  servers: [{ url: 'http://127.0.0.1:8080' }],
  security: [{ bearer: [] }],
  paths: {
    '/v1/features/lookup': {
      post: {
        operationId: 'lookup',
        summary: 'Batch lookup: many keys of one or more features',
        description:
          'Results come back in request order, one row per key. A batch naming any feature the caller may not read is refused whole (403).',
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                oneOf: [
                  {
                    type: 'object',
                    required: ['requests'],
                    additionalProperties: false,
                    properties: { requests: { type: 'array', minItems: 1, items: lookupRequestItem } },
                  },
                  lookupRequestItem,
                ],
              },
              examples: {
                batch: {
                  value: {
                    requests: [
                      {
                        feature: 'azar::user-profile',
                        keys: [{ user_id: 1001 }, { user_id: 1002 }],
                        fields: ['level', 'country_code'],
                      },
                      { feature: 'azar-match::recent-matches', keys: [1001], limit: 5 },
                    ],
                  },
                },
              },
            },
          },
        },
        responses: {
          '200': {
            description: 'One result per request item, each with one row per key',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/LookupResponse' } } },
          },
          ...commonErrors,
          '413': errorResponse('The body is larger than the configured limit'),
        },
      },
    },
    '/v1/features/{feature}/{key}': {
      get: {
        operationId: 'lookupOne',
        summary: 'Single lookup of a feature with one key field (for curl)',
        parameters: [
          { name: 'feature', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'key', in: 'path', required: true, schema: { type: 'string' } },
          { $ref: '#/components/parameters/fields' },
          { $ref: '#/components/parameters/limit' },
        ],
        responses: {
          '200': {
            description: 'The row',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/SingleRow' } } },
          },
          ...commonErrors,
        },
      },
    },
    '/v1/features/{feature}': {
      get: {
        operationId: 'lookupOneByQuery',
        summary: 'Single lookup with the key fields as query parameters (composite keys)',
        description:
          'Example: `/v1/features/ns::pair-stat?user_id=1&peer_id=2&fields=a,b`. `fields` and `limit` are reserved names.',
        parameters: [
          { name: 'feature', in: 'path', required: true, schema: { type: 'string' } },
          {
            name: 'keyFields',
            in: 'query',
            required: true,
            style: 'form',
            explode: true,
            schema: { type: 'object', additionalProperties: { type: 'string' } },
            description: 'One parameter per key field',
          },
          { $ref: '#/components/parameters/fields' },
          { $ref: '#/components/parameters/limit' },
        ],
        responses: {
          '200': {
            description: 'The row',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/SingleRow' } } },
          },
          ...commonErrors,
        },
      },
    },
    '/v1/commands': {
      post: {
        operationId: 'push',
        summary: 'Push commands (the Kafka command shape), one or a list',
        description:
          'Checked with the same parser and validator as the Kafka consumer; all or nothing. The service must be a writer of every feature named. ' +
          'Without Kafka the commands are applied to the online store before the answer (200, mode applied); with a Kafka publisher they are published (202, mode published). ' +
          'Cached rows of the keys pushed are dropped.',
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                oneOf: [
                  { $ref: '#/components/schemas/Command' },
                  { type: 'array', minItems: 1, items: { $ref: '#/components/schemas/Command' } },
                ],
              },
            },
          },
        },
        responses: {
          '200': {
            description: 'Applied',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/PushResult' } } },
          },
          '202': {
            description: 'Published',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/PushResult' } } },
          },
          ...commonErrors,
          '413': errorResponse('The body is larger than the configured limit'),
        },
      },
    },
    '/v1/events/{topic}': {
      post: {
        operationId: 'pushEvents',
        summary: 'Push domain events (schema-less JSON, one or a list) to the features that read a topic',
        description:
          'Each event goes through the from_events rules of every feature that reads the topic and that the service may write, as the worker maps the events of that Kafka topic; the commands the rules make then take the path of POST /v1/commands. ' +
          'All or nothing: an event a rule matches but cannot map refuses the push (400 invalid_event naming the event, feature and rule). An event no rule matches is counted as skipped (ferry_reader_events_total).',
        parameters: [{ name: 'topic', in: 'path', required: true, schema: { type: 'string' } }],
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                oneOf: [
                  { type: 'object', additionalProperties: true },
                  { type: 'array', minItems: 1, items: { type: 'object', additionalProperties: true } },
                ],
              },
            },
          },
        },
        responses: {
          '200': {
            description: 'Applied',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/EventPushResult' } } },
          },
          '202': {
            description: 'Published',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/EventPushResult' } } },
          },
          ...commonErrors,
          '413': errorResponse('The body is larger than the configured limit'),
        },
      },
    },
    '/healthz': {
      get: {
        operationId: 'healthz',
        summary: 'The process is up',
        security: [],
        responses: {
          '200': { description: 'Up', content: { 'application/json': { schema: { type: 'object' } } } },
        },
      },
    },
    '/readyz': {
      get: {
        operationId: 'readyz',
        summary: 'Definitions loaded and the online store answers a ping',
        security: [],
        responses: {
          '200': { description: 'Ready', content: { 'application/json': { schema: { type: 'object' } } } },
          '503': errorResponse('Not ready: store unreachable, definitions not loaded, or shutting down'),
        },
      },
    },
    '/metrics': {
      get: {
        operationId: 'metrics',
        summary: 'Prometheus text: requests and latency by route and feature, cache hit ratio, store errors',
        security: [{}, { bearer: [] }],
        responses: {
          '200': {
            description: 'Prometheus text exposition 0.0.4',
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
          '401': errorResponse(
            'Only when FERRY_READER_METRICS_REQUIRE_TOKEN=true and no valid token is given',
          ),
        },
      },
    },
    '/openapi.json': {
      get: {
        operationId: 'openapi',
        summary: 'This document',
        security: [],
        responses: {
          '200': {
            description: 'OpenAPI 3.1',
            content: { 'application/json': { schema: { type: 'object' } } },
          },
        },
      },
    },
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    parameters: {
      fields: {
        name: 'fields',
        in: 'query',
        schema: { type: 'string' },
        description: 'Comma-separated projection of value fields',
      },
      limit: {
        name: 'limit',
        in: 'query',
        schema: { type: 'integer', minimum: 1 },
        description: 'History: newest N entries',
      },
    },
    schemas: {
      Values: {
        type: 'object',
        description:
          "Value fields in JSON form (Timestamp as ISO-8601, Bytes as base64); missing ones hold the definition's default",
        additionalProperties: true,
      },
      ObjectRow: {
        type: 'object',
        required: ['found', 'values', '_last_updated_at_ms'],
        properties: {
          found: { type: 'boolean', description: 'Whether anything (unexpired) is stored for the key' },
          values: { $ref: '#/components/schemas/Values' },
          _last_updated_at_ms: {
            type: ['integer', 'null'],
            description: 'Newest event time among the stored fields',
          },
          stale: {
            type: 'boolean',
            description:
              'Present and true when served from cache past its freshness because the store failed',
          },
        },
      },
      HistoryRow: {
        type: 'object',
        required: ['found', 'entries', '_last_updated_at_ms'],
        properties: {
          found: { type: 'boolean' },
          entries: {
            type: 'array',
            description: 'Newest first',
            items: {
              type: 'object',
              required: ['values', '_last_updated_at_ms'],
              properties: {
                values: { $ref: '#/components/schemas/Values' },
                _last_updated_at_ms: { type: 'integer' },
              },
            },
          },
          _last_updated_at_ms: { type: ['integer', 'null'] },
          stale: { type: 'boolean' },
        },
      },
      LookupResponse: {
        type: 'object',
        required: ['results'],
        properties: {
          results: {
            type: 'array',
            items: {
              type: 'object',
              required: ['feature', 'rows'],
              properties: {
                feature: { type: 'string', description: 'Full feature name' },
                rows: {
                  type: 'array',
                  items: {
                    oneOf: [
                      { $ref: '#/components/schemas/ObjectRow' },
                      { $ref: '#/components/schemas/HistoryRow' },
                    ],
                  },
                },
              },
            },
          },
        },
      },
      SingleRow: {
        description: 'A row with the feature name',
        oneOf: [
          {
            allOf: [
              { type: 'object', properties: { feature: { type: 'string' } } },
              { $ref: '#/components/schemas/ObjectRow' },
            ],
          },
          {
            allOf: [
              { type: 'object', properties: { feature: { type: 'string' } } },
              { $ref: '#/components/schemas/HistoryRow' },
            ],
          },
        ],
      },
      Command: {
        type: 'object',
        required: ['feature_name', 'method', 'keys'],
        description:
          'The Kafka command envelope (upper-case envelope names and ksqlDB single-column wrapping accepted too)',
        properties: {
          feature_name: { type: 'string' },
          method: { type: 'string', enum: ['UPDATE', 'DELETE', 'APPEND'] },
          keys: { type: 'object', additionalProperties: true },
          values: {
            type: 'object',
            required: ['_last_updated_at_ms'],
            properties: {
              _last_updated_at_ms: { type: 'integer', description: 'Event time, epoch milliseconds' },
            },
            additionalProperties: true,
          },
        },
        examples: [
          {
            feature_name: 'azar::user-profile',
            method: 'UPDATE',
            keys: { user_id: 1001 },
            values: { level: 7, _last_updated_at_ms: 1700000000000 },
          },
        ],
      },
      PushResult: {
        type: 'object',
        required: ['accepted', 'mode'],
        properties: {
          accepted: { type: 'integer' },
          mode: { type: 'string', enum: ['applied', 'published'] },
        },
      },
      EventPushResult: {
        type: 'object',
        required: ['events', 'commands', 'skipped', 'mode'],
        properties: {
          events: { type: 'integer', description: 'Events pushed' },
          commands: { type: 'integer', description: 'Commands their rules made' },
          skipped: {
            type: 'object',
            additionalProperties: { type: 'integer' },
            description: 'By feature: events none of its rules matched',
          },
          mode: { type: 'string', enum: ['applied', 'published'] },
        },
      },
      Error: {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            properties: {
              code: {
                type: 'string',
                examples: [
                  'invalid_json',
                  'invalid_request',
                  'invalid_command',
                  'too_many_keys',
                  'unauthorized',
                  'forbidden',
                  'unknown_feature',
                  'payload_too_large',
                  'store_unavailable',
                ],
              },
              message: { type: 'string' },
              field: {
                type: 'string',
                description: 'The request field at fault, e.g. `requests[0].keys[3].user_id`',
              },
            },
          },
        },
      },
    },
  },
} as const;

/** The document as served (built once). */
export function openApiJson(): string {
  return JSON.stringify(openApiDocument);
}
