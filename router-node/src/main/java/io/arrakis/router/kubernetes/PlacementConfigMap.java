package io.arrakis.router.kubernetes;

import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.PlacementJson;
import io.fabric8.kubernetes.api.model.ConfigMap;

/**
 * Where a placement lives on Kubernetes: key {@value #KEY} of a ConfigMap, whose node ids are the
 * expert pods' names. Shared by the watcher (routers) and the publisher (controller, CLI) so both
 * read the document the same way.
 */
public final class PlacementConfigMap {
  /** The ConfigMap key holding the placement JSON ({@link PlacementJson}). */
  public static final String KEY = "placement.json";

  public static final String DEFAULT_NAME = "arrakis-placement";

  private PlacementConfigMap() {}

  /**
   * The placement in {@code configMap}.
   *
   * @throws IllegalArgumentException naming what is wrong: no such key, or what {@link
   *     PlacementJson#parse} says
   */
  public static Placement read(ConfigMap configMap) {
    String json = configMap.getData() == null ? null : configMap.getData().get(KEY);
    if (json == null) {
      throw new IllegalArgumentException("has no key '" + KEY + "'");
    }
    return PlacementJson.parse(json);
  }

  /** {@code namespace/name}, as logs and errors name a ConfigMap. */
  static String describe(String namespace, String name) {
    return "ConfigMap " + namespace + "/" + name;
  }
}
