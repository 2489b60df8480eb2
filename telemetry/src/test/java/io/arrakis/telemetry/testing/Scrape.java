package io.arrakis.telemetry.testing;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.OptionalDouble;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One scrape of a /metrics endpoint, parsed from the Prometheus text format, as Prometheus reads
 * it.
 */
public final class Scrape {
  private static final Pattern SAMPLE =
      Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\\{(.*)})?\\s+(\\S+)");
  private static final Pattern LABEL =
      Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"");

  public record Sample(String name, Map<String, String> labels, double value) {}

  public final String text;
  public final List<Sample> samples;

  private Scrape(String text, List<Sample> samples) {
    this.text = text;
    this.samples = samples;
  }

  public static Scrape of(String host, int port) throws IOException, InterruptedException {
    HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    HttpResponse<String> r =
        client.send(
            HttpRequest.newBuilder(URI.create("http://" + host + ":" + port + "/metrics"))
                .timeout(Duration.ofSeconds(10))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    if (r.statusCode() != 200) {
      throw new IOException("GET /metrics answered " + r.statusCode() + ": " + r.body());
    }
    return parse(r.body());
  }

  public static Scrape parse(String text) {
    List<Sample> samples = new ArrayList<>();
    for (String line : text.split("\n")) {
      Matcher m = SAMPLE.matcher(line);
      if (line.startsWith("#") || !m.find()) {
        continue;
      }
      Map<String, String> labels = new LinkedHashMap<>();
      if (m.group(2) != null) {
        Matcher l = LABEL.matcher(m.group(2));
        while (l.find()) {
          labels.put(l.group(1), l.group(2));
        }
      }
      samples.add(new Sample(m.group(1), labels, Double.parseDouble(m.group(3))));
    }
    return new Scrape(text, samples);
  }

  /**
   * The value of the one series named {@code name} whose labels include {@code labels} (k1, v1, k2,
   * v2, …).
   */
  public OptionalDouble value(String name, String... labels) {
    List<Sample> found = find(name, labels);
    if (found.size() > 1) {
      throw new IllegalStateException(
          found.size() + " series match " + name + " " + List.of(labels) + ": " + found);
    }
    return found.isEmpty() ? OptionalDouble.empty() : OptionalDouble.of(found.get(0).value());
  }

  public List<Sample> find(String name, String... labels) {
    List<Sample> out = new ArrayList<>();
    for (Sample s : samples) {
      if (s.name().equals(name) && matches(s.labels(), labels)) {
        out.add(s);
      }
    }
    return out;
  }

  /**
   * The histogram {@code name} (its {@code name_bucket} series) of the one series whose labels
   * include {@code labels}; empty buckets when it has no series yet (a meter made on first use).
   */
  public Histogram histogram(String name, String... labels) {
    TreeMap<Double, Double> buckets = new TreeMap<>();
    for (Sample s : find(name + "_bucket", labels)) {
      String le = s.labels().get("le");
      double bound = le.equals("+Inf") ? Double.POSITIVE_INFINITY : Double.parseDouble(le);
      if (buckets.put(bound, s.value()) != null) {
        throw new IllegalStateException(
            "more than one histogram " + name + " matches " + List.of(labels));
      }
    }
    return new Histogram(buckets);
  }

  /**
   * Cumulative bucket counts of a Prometheus histogram by upper bound ({@code le}), +Inf included.
   */
  public record Histogram(NavigableMap<Double, Double> buckets) {
    public Histogram {
      buckets = Collections.unmodifiableNavigableMap(new TreeMap<>(buckets));
    }

    public double count() {
      return buckets.isEmpty() ? 0 : buckets.lastEntry().getValue();
    }

    /**
     * What was observed between {@code before} and this scrape (as Prometheus' {@code increase}):
     * each bucket's count less the earlier one's. A bucket {@code before} lacks counted zero then.
     */
    public Histogram since(Histogram before) {
      TreeMap<Double, Double> d = new TreeMap<>();
      buckets.forEach((le, n) -> d.put(le, n - before.buckets.getOrDefault(le, 0.0)));
      return new Histogram(d);
    }

    /**
     * The {@code q} quantile (0..1) as Prometheus' {@code histogram_quantile} reads it: found in
     * its bucket, linearly interpolated between the bucket's bounds (from 0 for the first; the
     * highest finite bound if it falls in +Inf). NaN with no observations.
     */
    public double quantile(double q) {
      double total = count();
      if (total == 0) {
        return Double.NaN;
      }
      double rank = q * total;
      double lower = 0;
      double below = 0;
      for (Map.Entry<Double, Double> b : buckets.entrySet()) {
        if (b.getValue() >= rank) {
          if (b.getKey().isInfinite()) {
            return lower;
          }
          double inBucket = b.getValue() - below;
          return inBucket == 0
              ? b.getKey()
              : lower + (b.getKey() - lower) * (rank - below) / inBucket;
        }
        lower = b.getKey();
        below = b.getValue();
      }
      return lower;
    }

    /**
     * The share of observations at most {@code bound}, which must be a bucket bound; NaN with none.
     */
    public double shareAtMost(double bound) {
      if (count() == 0) {
        return Double.NaN;
      }
      Double n = buckets.get(bound);
      if (n == null) {
        throw new IllegalArgumentException("no bucket bound " + bound + " in " + buckets.keySet());
      }
      return n / count();
    }
  }

  private static boolean matches(Map<String, String> have, String[] want) {
    for (int i = 0; i + 1 < want.length; i += 2) {
      if (!want[i + 1].equals(have.get(want[i]))) {
        return false;
      }
    }
    return true;
  }
}
