package io.arrakis.loadtest.serve;

import io.arrakis.loadtest.load.ClusterLoad;

/**
 * A serving load test as its report shows it: what was asked, what was measured, and where the
 * router sent the experts' work in the window.
 *
 * @param backend "openai" (HTTP /v1/completions) or "grpc" (Generate)
 * @param target the base URL or HOST:PORT called
 * @param nodeLoad the router's load stats over the run, or null when they could not be read
 * @param nodeLoadError why they could not be read, or null
 */
public record ServingRun(
    String backend,
    String target,
    ServingLoad.Options options,
    ServingResult result,
    ClusterLoad nodeLoad,
    String nodeLoadError) {}
