/** `worldline` run from source (tsx) for the load runner: the same main() bin/worldline.js calls from dist/. */
import { main } from '../../server/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
