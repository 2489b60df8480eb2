package io.arrakis.loadtest.report;

import java.util.List;
import java.util.Locale;

/**
 * Small inline SVG charts. Drawn here rather than by a charting library in the browser so that the
 * report is one file that opens offline, and so that tests can read what it shows. Inline SVG in
 * HTML needs no namespace URL, which keeps the page free of any http reference.
 */
final class Svg {
  static final int WIDTH = 720;
  static final int HEIGHT = 220;
  private static final int LEFT = 60;
  private static final int RIGHT = 110;
  private static final int TOP = 14;
  private static final int BOTTOM = 30;
  static final String[] COLORS = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e"};

  private Svg() {}

  /** One line of a line chart: y per x, NaN where there is no value. */
  record Series(String name, double[] y) {}

  static String lineChart(String id, String yLabel, double[] x, List<Series> series) {
    double xMax = max(x, 1);
    double yMax = 0;
    for (Series s : series) {
      yMax = Math.max(yMax, max(s.y(), 0));
    }
    yMax = yMax <= 0 ? 1 : yMax * 1.1;
    StringBuilder sb = open(id, HEIGHT);
    axes(sb, yLabel, "seconds", xMax, yMax);
    for (int k = 0; k < series.size(); k++) {
      Series s = series.get(k);
      StringBuilder path = new StringBuilder();
      boolean pen = false;
      for (int i = 0; i < x.length; i++) {
        if (Double.isNaN(s.y()[i])) {
          pen = false;
          continue;
        }
        path.append(pen ? " L" : " M")
            .append(f(px(x[i], xMax)))
            .append(' ')
            .append(f(py(s.y()[i], yMax)));
        pen = true;
      }
      String color = COLORS[k % COLORS.length];
      sb.append("<path class=\"series\" fill=\"none\" stroke=\"")
          .append(color)
          .append("\" stroke-width=\"2\" d=\"")
          .append(path.toString().trim())
          .append("\"/>\n");
      sb.append("<text x=\"")
          .append(WIDTH - RIGHT + 10)
          .append("\" y=\"")
          .append(TOP + 14 + 16 * k)
          .append("\" fill=\"")
          .append(color)
          .append("\">")
          .append(esc(s.name()))
          .append("</text>\n");
    }
    return sb.append("</svg>\n").toString();
  }

  static String barChart(String id, String yLabel, List<String> labels, double[] values) {
    double yMax = max(values, 0);
    yMax = yMax <= 0 ? 1 : yMax * 1.1;
    StringBuilder sb = open(id, HEIGHT);
    axes(sb, yLabel, null, 0, yMax);
    double slot = (double) (WIDTH - LEFT - RIGHT) / Math.max(1, values.length);
    for (int i = 0; i < values.length; i++) {
      double x = LEFT + i * slot + slot * 0.15;
      double y = py(values[i], yMax);
      sb.append("<rect class=\"bar\" x=\"")
          .append(f(x))
          .append("\" y=\"")
          .append(f(y))
          .append("\" width=\"")
          .append(f(slot * 0.7))
          .append("\" height=\"")
          .append(f(HEIGHT - BOTTOM - y))
          .append("\" fill=\"")
          .append(COLORS[0])
          .append("\"><title>")
          .append(esc(labels.get(i)))
          .append(": ")
          .append(String.format(Locale.ROOT, "%,.0f", values[i]))
          .append("</title></rect>\n");
      sb.append("<text text-anchor=\"middle\" x=\"")
          .append(f(x + slot * 0.35))
          .append("\" y=\"")
          .append(HEIGHT - BOTTOM + 16)
          .append("\">")
          .append(esc(labels.get(i)))
          .append("</text>\n");
    }
    return sb.append("</svg>\n").toString();
  }

  /**
   * Rows × columns of cells shaded by value ÷ the row's largest (each layer routes the same
   * tokens).
   */
  static String heatMap(String id, List<String> rows, long[][] cells) {
    int columns = 0;
    for (long[] r : cells) {
      columns = Math.max(columns, r.length);
    }
    int cell = Math.max(4, Math.min(28, (WIDTH - LEFT - 20) / Math.max(1, columns)));
    int height = TOP + cell * rows.size() + BOTTOM;
    StringBuilder sb = open(id, height);
    for (int r = 0; r < rows.size(); r++) {
      long rowMax = 0;
      for (long v : cells[r]) {
        rowMax = Math.max(rowMax, v);
      }
      int y = TOP + r * cell;
      sb.append("<text text-anchor=\"end\" x=\"")
          .append(LEFT - 6)
          .append("\" y=\"")
          .append(y + cell * 0.7)
          .append("\">")
          .append(esc(rows.get(r)))
          .append("</text>\n");
      for (int c = 0; c < cells[r].length; c++) {
        double share = rowMax == 0 ? 0 : (double) cells[r][c] / rowMax;
        sb.append("<rect class=\"cell\" x=\"")
            .append(LEFT + c * cell)
            .append("\" y=\"")
            .append(y)
            .append("\" width=\"")
            .append(cell - 1)
            .append("\" height=\"")
            .append(cell - 1)
            .append("\" fill=\"")
            .append(heat(share))
            .append("\"><title>")
            .append(esc(rows.get(r)))
            .append(" expert ")
            .append(c)
            .append(": ")
            .append(cells[r][c])
            .append(" tokens</title></rect>\n");
      }
    }
    sb.append("<text x=\"")
        .append(LEFT)
        .append("\" y=\"")
        .append(height - 8)
        .append(
            "\">expert →  (darker = more tokens, relative to the layer's busiest expert)</text>\n");
    return sb.append("</svg>\n").toString();
  }

  // white to dark blue
  private static String heat(double share) {
    int r = (int) Math.round(255 - share * (255 - 8));
    int g = (int) Math.round(255 - share * (255 - 48));
    int b = (int) Math.round(255 - share * (255 - 107));
    return String.format(Locale.ROOT, "#%02x%02x%02x", r, g, b);
  }

  private static StringBuilder open(String id, int height) {
    return new StringBuilder()
        .append("<svg id=\"")
        .append(id)
        .append("\" width=\"")
        .append(WIDTH)
        .append("\" height=\"")
        .append(height)
        .append("\" viewBox=\"0 0 ")
        .append(WIDTH)
        .append(' ')
        .append(height)
        .append("\" role=\"img\">\n");
  }

  private static void axes(
      StringBuilder sb, String yLabel, String xLabel, double xMax, double yMax) {
    int x0 = LEFT;
    int y0 = HEIGHT - BOTTOM;
    sb.append("<line x1=\"")
        .append(x0)
        .append("\" y1=\"")
        .append(TOP)
        .append("\" x2=\"")
        .append(x0)
        .append("\" y2=\"")
        .append(y0)
        .append("\" stroke=\"#444\"/>\n");
    sb.append("<line x1=\"")
        .append(x0)
        .append("\" y1=\"")
        .append(y0)
        .append("\" x2=\"")
        .append(WIDTH - RIGHT)
        .append("\" y2=\"")
        .append(y0)
        .append("\" stroke=\"#444\"/>\n");
    for (int i = 0; i <= 4; i++) {
      double v = yMax * i / 4;
      sb.append("<text text-anchor=\"end\" x=\"")
          .append(x0 - 4)
          .append("\" y=\"")
          .append(f(py(v, yMax) + 4))
          .append("\">")
          .append(tick(v))
          .append("</text>\n");
    }
    sb.append("<text x=\"4\" y=\"")
        .append(TOP - 2)
        .append("\">")
        .append(esc(yLabel))
        .append("</text>\n");
    if (xLabel != null) {
      for (int i = 0; i <= 4; i++) {
        double v = xMax * i / 4;
        sb.append("<text text-anchor=\"middle\" x=\"")
            .append(f(px(v, xMax)))
            .append("\" y=\"")
            .append(y0 + 16)
            .append("\">")
            .append(tick(v))
            .append("</text>\n");
      }
      sb.append("<text x=\"")
          .append(WIDTH - RIGHT + 6)
          .append("\" y=\"")
          .append(y0 + 16)
          .append("\">")
          .append(esc(xLabel))
          .append("</text>\n");
    }
  }

  private static double px(double x, double xMax) {
    return LEFT + x / xMax * (WIDTH - LEFT - RIGHT);
  }

  private static double py(double y, double yMax) {
    return HEIGHT - BOTTOM - y / yMax * (HEIGHT - TOP - BOTTOM);
  }

  private static double max(double[] v, double floor) {
    double m = floor;
    for (double d : v) {
      if (!Double.isNaN(d)) {
        m = Math.max(m, d);
      }
    }
    return m;
  }

  private static String tick(double v) {
    return v >= 1000
        ? String.format(Locale.ROOT, "%,.0f", v)
        : String.format(Locale.ROOT, v >= 10 ? "%.0f" : "%.2g", v);
  }

  private static String f(double v) {
    return String.format(Locale.ROOT, "%.1f", v);
  }

  static String esc(String s) {
    return s.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\"", "&quot;");
  }
}
