import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The console is served by `tollgate serve` at /console (src/http/console-routes.ts), from this build.
export default defineConfig({
  base: '/console/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
  },
  // `npm run dev --workspace console` serves the console with hot reload against a gateway on :8080.
  server: {
    proxy: {
      '/admin': 'http://127.0.0.1:8080',
      '/account': 'http://127.0.0.1:8080',
      '/console/api': 'http://127.0.0.1:8080',
    },
  },
});
