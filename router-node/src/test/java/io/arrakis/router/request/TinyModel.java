package io.arrakis.router.request;

import io.arrakis.model.gating.Gate;
import io.arrakis.model.moe.MoeModel;
import io.arrakis.model.testing.Fixtures;
import java.util.Map;
import java.util.TreeMap;

/**
 * The mixtral-tiny fixture as the router's actors need it: its gates and the fixture's input rows.
 */
final class TinyModel implements AutoCloseable {
  final MoeModel model;
  final Map<Integer, Gate> gates = new TreeMap<>();

  /** [32, 64] */
  final float[] x;

  TinyModel() throws Exception {
    model = MoeModel.open(Fixtures.dir(Fixtures.MIXTRAL_TINY));
    for (int layer : model.moeLayers()) {
      gates.put(layer, model.gate(layer));
    }
    x =
        Fixtures.floats(
            Fixtures.dir(Fixtures.MIXTRAL_TINY).resolve("input.safetensors"), "hidden_states");
  }

  @Override
  public void close() throws Exception {
    model.close();
  }
}
