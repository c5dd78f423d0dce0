// Generated from proto/worldline.proto by server/protocol/proto-schema-source.ts; do not edit.
import type { INamespace } from 'protobufjs';

export const WORLDLINE_PROTO: INamespace = {
  "nested": {
    "worldline": {
      "nested": {
        "v1": {
          "options": {
            "csharp_namespace": "Worldline.V1"
          },
          "nested": {
            "ClientFrame": {
              "oneofs": {
                "frame": {
                  "oneof": [
                    "hello",
                    "submit_intent",
                    "begin_generation",
                    "cancel_intent",
                    "emit",
                    "ping",
                    "time_tick",
                    "collision_event",
                    "position_report",
                    "close"
                  ]
                }
              },
              "fields": {
                "hello": {
                  "type": "Hello",
                  "id": 1
                },
                "submit_intent": {
                  "type": "SubmitIntent",
                  "id": 2
                },
                "begin_generation": {
                  "type": "BeginGeneration",
                  "id": 3
                },
                "cancel_intent": {
                  "type": "CancelIntent",
                  "id": 4
                },
                "emit": {
                  "type": "Emit",
                  "id": 5
                },
                "ping": {
                  "type": "Ping",
                  "id": 6
                },
                "time_tick": {
                  "type": "TimeTick",
                  "id": 7
                },
                "collision_event": {
                  "type": "CollisionEvent",
                  "id": 8
                },
                "position_report": {
                  "type": "PositionReport",
                  "id": 9
                },
                "close": {
                  "type": "Close",
                  "id": 10
                },
                "channel": {
                  "type": "uint32",
                  "id": 15
                }
              },
              "reserved": [
                [
                  100,
                  199
                ]
              ]
            },
            "ServerFrame": {
              "oneofs": {
                "frame": {
                  "oneof": [
                    "welcome",
                    "observation_delta",
                    "snapshot",
                    "intent_result",
                    "cancelled",
                    "pong",
                    "error",
                    "move_command",
                    "close"
                  ]
                }
              },
              "fields": {
                "welcome": {
                  "type": "Welcome",
                  "id": 1
                },
                "observation_delta": {
                  "type": "ObservationDelta",
                  "id": 2
                },
                "snapshot": {
                  "type": "Snapshot",
                  "id": 3
                },
                "intent_result": {
                  "type": "IntentResult",
                  "id": 4
                },
                "cancelled": {
                  "type": "Cancelled",
                  "id": 5
                },
                "pong": {
                  "type": "Pong",
                  "id": 6
                },
                "error": {
                  "type": "Error",
                  "id": 7
                },
                "move_command": {
                  "type": "MoveCommand",
                  "id": 8
                },
                "close": {
                  "type": "Close",
                  "id": 9
                },
                "channel": {
                  "type": "uint32",
                  "id": 15
                }
              },
              "reserved": [
                [
                  100,
                  199
                ]
              ]
            },
            "Role": {
              "values": {
                "ROLE_UNSPECIFIED": 0,
                "ROLE_AGENT": 1,
                "ROLE_ENGINE": 2,
                "ROLE_VIEWER": 3,
                "ROLE_ADMIN": 4
              }
            },
            "Vec3": {
              "fields": {
                "x": {
                  "type": "double",
                  "id": 1
                },
                "y": {
                  "type": "double",
                  "id": 2
                },
                "z": {
                  "type": "double",
                  "id": 3
                }
              }
            },
            "StaleCause": {
              "fields": {
                "view_seq": {
                  "type": "uint64",
                  "id": 1
                },
                "global_seq": {
                  "type": "uint64",
                  "id": 2
                },
                "kind": {
                  "type": "string",
                  "id": 3
                }
              }
            },
            "Hello": {
              "fields": {
                "token": {
                  "type": "string",
                  "id": 1
                },
                "agent_id": {
                  "type": "string",
                  "id": 2
                },
                "role": {
                  "type": "Role",
                  "id": 3
                },
                "client_version": {
                  "type": "string",
                  "id": 4
                },
                "schema_version": {
                  "type": "string",
                  "id": 5
                },
                "resume": {
                  "type": "Resume",
                  "id": 6
                }
              }
            },
            "Resume": {
              "fields": {
                "view_seq": {
                  "type": "uint64",
                  "id": 1
                },
                "incarnation": {
                  "type": "string",
                  "id": 2
                }
              }
            },
            "Intent": {
              "oneofs": {
                "_deadline_ms": {
                  "oneof": [
                    "deadline_ms"
                  ]
                }
              },
              "fields": {
                "req_id": {
                  "type": "string",
                  "id": 1
                },
                "kind": {
                  "type": "string",
                  "id": 2
                },
                "payload_json": {
                  "type": "bytes",
                  "id": 3
                },
                "context_seq": {
                  "type": "uint64",
                  "id": 4
                },
                "priority": {
                  "type": "sint32",
                  "id": 5
                },
                "deadline_ms": {
                  "type": "uint32",
                  "id": 6,
                  "options": {
                    "proto3_optional": true
                  }
                }
              }
            },
            "SubmitIntent": {
              "fields": {
                "intent": {
                  "type": "Intent",
                  "id": 1
                }
              }
            },
            "BeginGeneration": {
              "fields": {
                "req_id": {
                  "type": "string",
                  "id": 1
                },
                "context_seq": {
                  "type": "uint64",
                  "id": 2
                }
              }
            },
            "CancelIntent": {
              "fields": {
                "req_id": {
                  "type": "string",
                  "id": 1
                }
              }
            },
            "Emit": {
              "fields": {
                "kind": {
                  "type": "string",
                  "id": 1
                },
                "payload_json": {
                  "type": "bytes",
                  "id": 2
                },
                "priority": {
                  "type": "sint32",
                  "id": 3
                },
                "req_id": {
                  "type": "string",
                  "id": 4
                }
              }
            },
            "Ping": {
              "fields": {
                "client_time": {
                  "type": "double",
                  "id": 1
                }
              }
            },
            "Close": {
              "fields": {
                "code": {
                  "type": "uint32",
                  "id": 1
                },
                "reason": {
                  "type": "string",
                  "id": 2
                }
              }
            },
            "TimeTick": {
              "fields": {
                "sim_time": {
                  "type": "uint64",
                  "id": 1
                },
                "delta_time": {
                  "type": "double",
                  "id": 2
                },
                "frame_number": {
                  "type": "uint64",
                  "id": 3
                }
              }
            },
            "CollisionEvent": {
              "fields": {
                "entity_a": {
                  "type": "string",
                  "id": 1
                },
                "entity_b": {
                  "type": "string",
                  "id": 2
                },
                "impact_force": {
                  "type": "double",
                  "id": 3
                },
                "position": {
                  "type": "Vec3",
                  "id": 4
                },
                "normal": {
                  "type": "Vec3",
                  "id": 5
                }
              }
            },
            "PositionReport": {
              "fields": {
                "frame_number": {
                  "type": "uint64",
                  "id": 1
                },
                "entities": {
                  "rule": "repeated",
                  "type": "EntityPosition",
                  "id": 2
                }
              }
            },
            "EntityPosition": {
              "fields": {
                "entity_id": {
                  "type": "string",
                  "id": 1
                },
                "position": {
                  "type": "Vec3",
                  "id": 2
                },
                "velocity": {
                  "type": "Vec3",
                  "id": 3
                }
              }
            },
            "Welcome": {
              "fields": {
                "session": {
                  "type": "string",
                  "id": 1
                },
                "world": {
                  "type": "string",
                  "id": 2
                },
                "agent": {
                  "type": "string",
                  "id": 3
                },
                "schema_version": {
                  "type": "string",
                  "id": 4
                },
                "server_time": {
                  "type": "double",
                  "id": 5
                },
                "view_seq": {
                  "type": "uint64",
                  "id": 6
                },
                "snapshot": {
                  "type": "Snapshot",
                  "id": 7
                },
                "incarnation": {
                  "type": "string",
                  "id": 8
                }
              }
            },
            "ObservationDelta": {
              "fields": {
                "view_seq": {
                  "type": "uint64",
                  "id": 1
                },
                "from_seq": {
                  "type": "uint64",
                  "id": 2
                },
                "context_digest": {
                  "type": "bytes",
                  "id": 3
                },
                "ops": {
                  "type": "bytes",
                  "id": 4
                },
                "global_seq": {
                  "type": "uint64",
                  "id": 5
                },
                "sim_time": {
                  "type": "uint64",
                  "id": 6
                },
                "server_time": {
                  "type": "uint64",
                  "id": 7
                }
              }
            },
            "Snapshot": {
              "fields": {
                "view_seq": {
                  "type": "uint64",
                  "id": 1
                },
                "view_json": {
                  "type": "bytes",
                  "id": 2
                },
                "context_digest": {
                  "type": "bytes",
                  "id": 3
                }
              }
            },
            "IntentStatus": {
              "values": {
                "INTENT_STATUS_UNSPECIFIED": 0,
                "INTENT_STATUS_ACCEPTED": 1,
                "INTENT_STATUS_REJECTED": 2,
                "INTENT_STATUS_DUPLICATE": 3,
                "INTENT_STATUS_CANCELLED": 4
              }
            },
            "IntentResult": {
              "oneofs": {
                "_global_seq": {
                  "oneof": [
                    "global_seq"
                  ]
                }
              },
              "fields": {
                "req_id": {
                  "type": "string",
                  "id": 1
                },
                "status": {
                  "type": "IntentStatus",
                  "id": 2
                },
                "global_seq": {
                  "type": "uint64",
                  "id": 3,
                  "options": {
                    "proto3_optional": true
                  }
                },
                "error": {
                  "type": "Error",
                  "id": 4
                }
              }
            },
            "Cancelled": {
              "fields": {
                "req_id": {
                  "type": "string",
                  "id": 1
                },
                "reason": {
                  "type": "string",
                  "id": 2
                },
                "stale_due_to": {
                  "rule": "repeated",
                  "type": "StaleCause",
                  "id": 3
                },
                "server_time": {
                  "type": "double",
                  "id": 4
                }
              }
            },
            "Pong": {
              "fields": {
                "client_time": {
                  "type": "double",
                  "id": 1
                },
                "server_time": {
                  "type": "double",
                  "id": 2
                },
                "sim_time": {
                  "type": "uint64",
                  "id": 3
                }
              }
            },
            "ErrorCode": {
              "values": {
                "ERROR_CODE_UNSPECIFIED": 0,
                "ERROR_CODE_STALE_CONTEXT": 1001,
                "ERROR_CODE_INVALID_VIEW_SEQ": 1002,
                "ERROR_CODE_WORLD_STATE_CORRUPTED": 1003,
                "ERROR_CODE_MISSING_CONTEXT": 1004,
                "ERROR_CODE_INTENT_CONFLICT": 2001,
                "ERROR_CODE_INVALID_INTENT": 2002,
                "ERROR_CODE_INTENT_VALIDATION_FAILED": 2003,
                "ERROR_CODE_DUPLICATE_REQ_ID": 2004,
                "ERROR_CODE_QUOTA_EXCEEDED": 3001,
                "ERROR_CODE_QUEUE_FULL": 3002,
                "ERROR_CODE_TOKEN_BUDGET_EXCEEDED": 3003,
                "ERROR_CODE_MEMORY_LIMIT_EXCEEDED": 3004,
                "ERROR_CODE_OPERATION_TIMEOUT": 4001,
                "ERROR_CODE_GENERATION_CANCELLED": 4002,
                "ERROR_CODE_STALENESS_DETECTED": 4003,
                "ERROR_CODE_DEBOUNCE_ACTIVE": 4004,
                "ERROR_CODE_UNAUTHORIZED": 5001,
                "ERROR_CODE_FORBIDDEN": 5002,
                "ERROR_CODE_INVALID_AGENT_ID": 5003,
                "ERROR_CODE_TENANT_ISOLATION_VIOLATION": 5004,
                "ERROR_CODE_AGENT_QUARANTINED": 5005,
                "ERROR_CODE_WORLD_NOT_FOUND": 5006,
                "ERROR_CODE_WORLD_EXISTS": 5007,
                "ERROR_CODE_ADAPTER_UNAVAILABLE": 6001,
                "ERROR_CODE_LLM_SERVICE_ERROR": 6002,
                "ERROR_CODE_UNITY_CONNECTION_LOST": 6003,
                "ERROR_CODE_WEB_API_ERROR": 6004,
                "ERROR_CODE_LLM_REQUEST_REFUSED": 6005,
                "ERROR_CODE_CIRCUIT_BREAKER_OPEN": 7001,
                "ERROR_CODE_DATABASE_ERROR": 7002,
                "ERROR_CODE_LOG_CORRUPTION_DETECTED": 7003,
                "ERROR_CODE_SCHEMA_VERSION_MISMATCH": 7004,
                "ERROR_CODE_LOG_LOCKED": 7005,
                "ERROR_CODE_LOG_WRITE_FAILED": 7006,
                "ERROR_CODE_LOG_READ_ONLY": 7007,
                "ERROR_CODE_LOG_FSYNC_FAILED": 7008,
                "ERROR_CODE_LOG_CLOSED": 7009,
                "ERROR_CODE_LOG_RECORD_TOO_LARGE": 7010,
                "ERROR_CODE_LOG_WORLD_MISMATCH": 7011,
                "ERROR_CODE_SNAPSHOT_CORRUPTED": 7012,
                "ERROR_CODE_CHECKPOINT_SIGNATURE_INVALID": 7013,
                "ERROR_CODE_CONFIG_INVALID": 7014,
                "ERROR_CODE_LOG_RANGE_UNAVAILABLE": 7015,
                "ERROR_CODE_MALFORMED_FRAME": 7016,
                "ERROR_CODE_ENDPOINT_NOT_FOUND": 7017,
                "ERROR_CODE_SERVER_UNAVAILABLE": 7018,
                "ERROR_CODE_WORLD_SYSTEM_FAILED": 7019,
                "ERROR_CODE_PAYLOAD_TOO_LARGE": 7020
              }
            },
            "Recovery": {
              "values": {
                "RECOVERY_UNSPECIFIED": 0,
                "RECOVERY_RETRY": 1,
                "RECOVERY_RETRY_WITH_DELAY": 2,
                "RECOVERY_REGENERATE": 3,
                "RECOVERY_MODIFY_INTENT": 4,
                "RECOVERY_DEFER": 5,
                "RECOVERY_SHED_OLDEST": 6,
                "RECOVERY_ABORT": 7
              }
            },
            "Error": {
              "fields": {
                "code": {
                  "type": "ErrorCode",
                  "id": 1
                },
                "name": {
                  "type": "string",
                  "id": 2
                },
                "message": {
                  "type": "string",
                  "id": 3
                },
                "recovery": {
                  "type": "Recovery",
                  "id": 4
                },
                "details_json": {
                  "type": "bytes",
                  "id": 5
                }
              }
            },
            "MoveCommand": {
              "fields": {
                "entity_id": {
                  "type": "string",
                  "id": 1
                },
                "target_position": {
                  "type": "Vec3",
                  "id": 2
                },
                "speed": {
                  "type": "double",
                  "id": 3
                },
                "use_pathfinding": {
                  "type": "bool",
                  "id": 4
                },
                "global_seq": {
                  "type": "uint64",
                  "id": 5
                },
                "req_id": {
                  "type": "string",
                  "id": 6
                }
              }
            }
          }
        }
      }
    }
  }
};
