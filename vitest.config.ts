import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    restoreMocks: true,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests spawn git and olm processes; two workers match the CI machine.
    maxWorkers: 2,
  },
})
