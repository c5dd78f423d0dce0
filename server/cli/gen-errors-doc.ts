// Writes docs/errors.md from the error catalogue: `npm run docs:errors`.
import { renderErrorsMarkdown } from '../errors.js';

process.stdout.write(renderErrorsMarkdown());
