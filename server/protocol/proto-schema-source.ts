/**
 * Renders server/protocol/proto-schema.gen.ts (the protobufjs descriptor of proto/worldline.proto) so the proto
 * codec needs no file access or .proto parsing at startup. Regenerate after editing the .proto:
 * `node --import tsx server/protocol/proto-schema-source.ts > server/protocol/proto-schema.gen.ts`
 * (a test fails when the two drift apart).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/** The .proto text parsed the way the codec needs it (field names kept as written). */
export function renderProtoSchemaModule(protoText: string): string {
  const root = protobuf.parse(protoText, { keepCase: true }).root;
  return [
    '// Generated from proto/worldline.proto by server/protocol/proto-schema-source.ts; do not edit.',
    "import type { INamespace } from 'protobufjs';",
    '',
    `export const WORLDLINE_PROTO: INamespace = ${JSON.stringify(root.toJSON(), null, 2)};`,
    '',
  ].join('\n');
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.stdout.write(renderProtoSchemaModule(fs.readFileSync(new URL('../../proto/worldline.proto', import.meta.url), 'utf8')));
}
