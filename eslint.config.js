import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';


/**
 * Ports and adapters (DESIGN.md §2, docs/architecture.md): the core declares ports and never
 * imports an adapter, a transport library or the composition root. Adapters that sit in a core
 * folder (a SQLite store, the file registry) are listed in ADAPTERS_IN_CORE_FOLDERS and are not core.
 */
const CORE = ['src/injection/**/*.ts', 'src/orchestrator/**/*.ts', 'src/jobs/**/*.ts', 'src/render/**/*.ts', 'src/mesh/*.ts', 'src/retry/**/*.ts'];
const ADAPTERS_IN_CORE_FOLDERS = [
  'src/jobs/sqlite-job-store.ts',
  'src/orchestrator/kubernetes-cluster-objects.ts',
  'src/orchestrator/sqlite-orchestrator-inbox.ts',
  'src/mesh/file-mesh-registry.ts',
  'src/mesh/file-mesh-credentials.ts',
];
const ADAPTER_MODULES = [
  '**/ssh/**',
  '**/api/**',
  '**/cli/**',
  '**/main.js',
  // The ServerDirectory port (and the address choice on its data) sits with the OpenStack adapters it abstracts.
  '**/openstack/**',
  '!**/openstack/server-directory.js',
  '**/secrets/file-*',
  '**/notify/webhook-notifier.js',
  '**/mesh/kubernetes/**',
  '**/mesh/istio-ca/**',
  '**/mesh/file-mesh-*',
  '**/tacker/tacker-client.js',
  '**/tacker/tacker-vnf-lifecycle.js',
  '**/tacker/subscription*',
  '**/jobs/sqlite-job-store.js',
  '**/orchestrator/kubernetes-cluster-objects.js',
  '**/orchestrator/sqlite-orchestrator-inbox.js',
];
const TRANSPORT_PACKAGES = ['express', 'ssh2', '@kubernetes/client-node', '@grpc/grpc-js', '@grpc/proto-loader', 'protobufjs', 'node:sqlite', 'node:http', 'node:https'];

// Limits follow STYLE.md (Pepr's): small functions, shallow nesting, few parameters, no floating promises.
export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'plugin-manifest/**'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      complexity: ['error', 10],
      'max-depth': ['error', 3],
      'max-params': ['error', 4],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/explicit-function-return-type': ['error', { allowExpressions: true, allowTypedFunctionExpressions: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: CORE,
    ignores: [...ADAPTERS_IN_CORE_FOLDERS, '**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: TRANSPORT_PACKAGES.map((name) => ({ name, message: 'The core depends on ports; the transport belongs in an adapter.' })),
          patterns: [{ group: ADAPTER_MODULES, message: 'The core imports no adapter: declare a port in the core and let main.ts wire the adapter.' }],
        },
      ],
    },
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-expressions': 'off',
      '@typescript-eslint/explicit-function-return-type': 'off',
      'max-params': 'off',
      complexity: 'off',
    },
  },
  {
    files: ['eslint.config.js', 'scripts/**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      parserOptions: { projectService: false, project: false },
      globals: { process: 'readonly', require: 'readonly', module: 'writable', console: 'readonly' },
    },
  },
  {
    // The status page's browser script: plain JavaScript served as is, no build step.
    files: ['ui/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      parserOptions: { projectService: false, project: false },
      globals: { document: 'readonly', location: 'readonly', sessionStorage: 'readonly', fetch: 'readonly', URLSearchParams: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' },
    },
    rules: { ...tseslint.configs.disableTypeChecked.rules, '@typescript-eslint/explicit-function-return-type': 'off' },
  },
  { files: ['**/*.cjs'], languageOptions: { sourceType: 'commonjs' }, rules: { '@typescript-eslint/no-require-imports': 'off' } },
);
