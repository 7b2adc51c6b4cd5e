/**
 * The deathstar's HTTP API, as the Star Wars demo's `starwars` image serves
 * it (a go-swagger server, basePath /v1, text/plain): the routes, status
 * codes and exact bodies. Pure: `deathstarResponse` maps a request line to
 * a response; deathstar.ts serves it.
 */

export interface DeathstarResponse {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

/** GET /v1/: the station's spec sheet, exactly as the image returns it (tabs and all). */
export const DEATHSTAR_INFO = `{
\t"name": "Death Star",
\t"model": "DS-1 Orbital Battle Station",
\t"manufacturer": "Imperial Department of Military Research, Sienar Fleet Systems",
\t"cost_in_credits": "1000000000000",
\t"length": "120000",
\t"crew": "342953",
\t"passengers": "843342",
\t"cargo_capacity": "1000000000000",
\t"hyperdrive_rating": "4.0",
\t"starship_class": "Deep Space Mobile Battlestation",
\t"api": [
\t\t"GET   /v1",
\t\t"GET   /v1/healthz",
\t\t"POST  /v1/request-landing",
\t\t"PUT   /v1/cargobay",
\t\t"GET   /v1/hyper-matter-reactor/status",
\t\t"PUT   /v1/exhaust-port"
\t]
}
`;

export const SHIP_LANDED = 'Ship landed\n';

/** PUT /v1/exhaust-port: the "backtrace" the image answers with (8-space indents). */
export const EXHAUST_PORT_BACKTRACE = `Panic: deathstar exploded

goroutine 1 [running]:
main.HandleGarbage(0x2080c3f50, 0x2, 0x4, 0x425c0, 0x5, 0xa)
        /code/src/github.com/empire/deathstar/
        temp/main.go:9 +0x64
main.main()
        /code/src/github.com/empire/deathstar/
        temp/main.go:5 +0x85
`;

interface Route {
  path: string;
  method: string;
  respond: () => DeathstarResponse;
}

const ROUTES: Route[] = [
  { path: '/v1', method: 'GET', respond: () => ({ status: 200, body: DEATHSTAR_INFO }) },
  { path: '/v1/', method: 'GET', respond: () => ({ status: 200, body: DEATHSTAR_INFO }) },
  { path: '/v1/request-landing', method: 'POST', respond: () => ({ status: 200, body: SHIP_LANDED }) },
  // The image also crashes itself 2 s later; membrane's workload stays up so the demo can go on.
  { path: '/v1/exhaust-port', method: 'PUT', respond: () => ({ status: 503, body: EXHAUST_PORT_BACKTRACE }) },
];

/** The response to `method url` (the query string is ignored, as the router does). */
export function deathstarResponse(method: string, url: string): DeathstarResponse {
  const path = url.split('?')[0] ?? url;
  const matches = ROUTES.filter((r) => r.path === path);
  if (matches.length === 0) return { status: 404, body: `path ${path} was not found` };
  const route = matches.find((r) => r.method === method || (method === 'HEAD' && r.method === 'GET'));
  if (!route) {
    const allowed = [...new Set(matches.map((r) => r.method))];
    return {
      status: 405,
      body: `method ${method} is not allowed, but [${allowed.join(',')}] are`,
      headers: { allow: allowed.join(',') },
    };
  }
  return route.respond();
}
