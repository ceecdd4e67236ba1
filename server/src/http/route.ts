/** A route is data: method, URL, declared permission, limits, zod schemas and a handler. */
import type { FastifyBaseLogger } from 'fastify';
import type { z } from 'zod';
import type { Permission, Caller } from '../auth/permissions.ts';
import type { ApiStore } from '../db/store.ts';
import type { ServerKeys } from '../keys/files.ts';

export type Services = {
  store: ApiStore;
  serverKeys: () => ServerKeys;
  /** Rotates the API server's signing key (admin action). */
  rotateServerKey: () => { retired: string[]; current: string };
  now: () => Date;
  log: FastifyBaseLogger;
  /** How long an erasure request waits for the aggregator before answering 503 (the agent retries). */
  erasureWaitMs: number;
  /** Laplace noise source; replaceable so tests can pin it. */
  uniform: () => number;
};

type RouteSchema = { body?: z.ZodType; params?: z.ZodType; querystring?: z.ZodType; response: Partial<Record<number, z.ZodType>> };
type Out<T> = T extends z.ZodType ? z.output<T> : undefined;

export type HandlerInput<S extends RouteSchema> = {
  caller: Caller;
  body: Out<S['body']>;
  params: Out<S['params']>;
  query: Out<S['querystring']>;
  services: Services;
  cookie: { set: (token: string) => void; clear: () => void };
};

/** The status is checked against the declared response schemas when the reply is serialised. */
export type HandlerResult<S extends RouteSchema> = { status: keyof S['response'] & number; body: Out<S['response'][keyof S['response']]> } | { status: number; body: Out<S['response'][keyof S['response']]> };

export type RouteDefinition<S extends RouteSchema = RouteSchema> = {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  permission: Permission;
  /** Bytes of the request body as received (compressed bodies are refused, so this is also the decoded size). */
  bodyLimit?: number;
  rateLimit?: { max: number; timeWindowMs: number };
  schema: S;
  handler: (input: HandlerInput<S>) => HandlerResult<S> | Promise<HandlerResult<S>>;
};

export type AnyRoute = RouteDefinition;

export function defineRoute<S extends RouteSchema>(route: RouteDefinition<S>): AnyRoute {
  return route;
}
