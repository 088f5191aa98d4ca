export * from './e2e.js';
