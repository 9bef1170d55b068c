import { defineConfig } from 'tsup';

export default defineConfig({
  // `layout` is the internal `./layout` subpath: the record layout the bench reads.
  entry: { index: 'src/index.ts', layout: 'src/layout.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  splitting: false,
});
