/**
 * The price catalog's storage API: models, versioned prices, seeding from parsed sources, coverage.
 * The implementation is split by concern; other modules import from here.
 */
export { computeCoverage, coverage, type Coverage } from './coverage.js';
export { readRegisterModels, registerModels, registrationOf, type RegisterModel } from './model-registry.js';
export { priceAt, priceHistory, writePriceVersion, type PriceInput } from './price-history.js';
export { seedCatalog, sourceLabel, type SeedOptions, type SeedReport, type SourceStats } from './seed.js';
