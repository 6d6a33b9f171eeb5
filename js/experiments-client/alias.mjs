// `node --import ./alias.mjs`: resolves seed 003's Next.js import `@/lib/api/experiments` to
// ./experiments.js, so its examples run in Node exactly as written.
import { register } from 'node:module';

const target = new URL('./experiments.js', import.meta.url).href;
const hooks = `export async function resolve(specifier, context, nextResolve) {
  if (specifier === '@/lib/api/experiments') return { url: ${JSON.stringify(target)}, shortCircuit: true };
  return nextResolve(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
