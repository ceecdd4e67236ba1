import type { AnyRoute } from '../route.ts';
import { DATA_ROUTES } from './data.ts';
import { DEVICE_ROUTES } from './devices.ts';
import { INGEST_ROUTES } from './ingest.ts';
import { PEOPLE_ROUTES } from './people.ts';
import { STUDY_ROUTES } from './studies.ts';

/** Every route the API server has; the authorization matrix test walks this table. */
export const ALL_ROUTES: readonly AnyRoute[] = [...PEOPLE_ROUTES, ...STUDY_ROUTES, ...DEVICE_ROUTES, ...INGEST_ROUTES, ...DATA_ROUTES];
