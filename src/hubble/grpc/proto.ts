/**
 * The Observer API's protobuf definitions, loaded at run time from the
 * repository's proto/ folder (no code generation): the server, and any
 * client in tests, use the very same files a Hubble client compiles.
 *
 * Loader options: names as written in the .proto (`keepCase`, so
 * `pod_name`, `IP`, `Type` as in Hubble's JSON), 64-bit integers as
 * numbers (flow counts and uptimes stay far below 2^53), enums as their
 * names on decode, and empty arrays instead of absent repeated fields.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** proto/ at the repository root (this file runs from dist/hubble/grpc/). */
export const PROTO_DIR = resolve(fileURLToPath(new URL('../../../proto', import.meta.url)));
export const OBSERVER_PROTO = join('observer', 'observer.proto');

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  arrays: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

let cached: protoLoader.PackageDefinition | undefined;

/** The loaded package definition of observer.proto and its imports. Throws when proto/ is missing (a broken install). */
export function observerPackageDefinition(): protoLoader.PackageDefinition {
  if (cached) return cached;
  if (!existsSync(join(PROTO_DIR, OBSERVER_PROTO))) {
    throw new Error(`Hubble Observer API: ${join(PROTO_DIR, OBSERVER_PROTO)} not found; the proto/ folder must ship beside dist/`);
  }
  cached = protoLoader.loadSync(OBSERVER_PROTO, LOADER_OPTIONS);
  return cached;
}

/** The `observer.Observer` service definition (for grpc.Server.addService and client constructors). */
export function observerServiceDefinition(): grpc.ServiceDefinition {
  return observerPackageDefinition()['observer.Observer'] as grpc.ServiceDefinition;
}

/** A client constructor for `observer.Observer`, built from the same .proto (tests, tools). */
export function observerClientConstructor(): grpc.ServiceClientConstructor {
  return grpc.makeClientConstructor(observerServiceDefinition(), 'observer.Observer');
}
