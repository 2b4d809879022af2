package bigwrap.dl4jharness;

import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipFile;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.shade.jackson.databind.ObjectMapper;

/**
 * A plain Java program on Deeplearning4j alone (no Spark, no bigwrap): the oracle of bigwrap's DL4J tests.
 *
 * <pre>
 * Harness build DIR    networks built with DL4J's own API (Cases), saved with ModelSerializer as DIR/NAME.zip,
 *                      with fixed inputs and DL4J's outputs (raw little-endian float32) and DIR/cases.json
 * Harness run DIR      for each entry of DIR/requests.json {name, zip, inputs: [{file, shape}], labels?}: restores
 *                      the zip with ModelSerializer and writes its outputs on the inputs; with labels, then trains
 *                      it one step on them (fit) and reports its score; DIR/results.json lists them
 * </pre>
 */
public final class Harness {
  private static final ObjectMapper JSON = new ObjectMapper();

  public static void main(String[] args) throws Exception {
    if (args.length != 2 || !(args[0].equals("build") || args[0].equals("run"))) {
      System.err.println("usage: Harness build|run DIR");
      System.exit(2);
    }
    File dir = new File(args[1]);
    dir.mkdirs();
    if (args[0].equals("build")) build(dir);
    else run(dir);
  }

  private static void build(File dir) throws IOException {
    List<Object> written = new ArrayList<>();
    for (Cases.Case c : Cases.all()) {
      File zip = new File(dir, c.name + ".zip");
      ModelSerializer.writeModel(c.model, zip, false);
      written.add(Map.of("name", c.name, "zip", zip.getName(), "graph", c.model instanceof ComputationGraph,
          "inputs", save(dir, c.name + ".input", c.inputs), "outputs", save(dir, c.name + ".output", outputs(c.model, c.inputs))));
    }
    JSON.writerWithDefaultPrettyPrinter().writeValue(new File(dir, "cases.json"), written);
  }

  @SuppressWarnings("unchecked")
  private static void run(File dir) throws IOException {
    List<Map<String, Object>> requests = JSON.readValue(new File(dir, "requests.json"), List.class);
    List<Object> results = new ArrayList<>();
    for (Map<String, Object> request : requests) {
      String name = (String) request.get("name");
      File zip = new File(dir, (String) request.get("zip"));
      List<INDArray> inputs = new ArrayList<>();
      for (Map<String, Object> input : (List<Map<String, Object>>) request.get("inputs")) {
        inputs.add(load(new File(dir, (String) input.get("file")), (List<Integer>) input.get("shape")));
      }
      Model model = restore(zip);
      Map<String, Object> result = new java.util.HashMap<>(Map.of("name", name,
          "class", model.getClass().getSimpleName(), "outputs", save(dir, name + ".output", outputs(model, inputs))));
      Map<String, Object> labels = (Map<String, Object>) request.get("labels");
      if (labels != null) {
        MultiLayerNetwork net = (MultiLayerNetwork) model;
        net.fit(inputs.get(0), load(new File(dir, (String) labels.get("file")), (List<Integer>) labels.get("shape")));
        result.put("score_after_fit", net.score());
      }
      results.add(result);
    }
    JSON.writerWithDefaultPrettyPrinter().writeValue(new File(dir, "results.json"), results);
  }

  /** ModelSerializer's own reading, as the configuration says: a ComputationGraph's has networkInputs. */
  private static Model restore(File zip) throws IOException {
    try (ZipFile archive = new ZipFile(zip)) {
      String configuration = new String(archive.getInputStream(archive.getEntry("configuration.json")).readAllBytes(),
          StandardCharsets.UTF_8);
      if (JSON.readTree(configuration).has("networkInputs")) return ModelSerializer.restoreComputationGraph(zip, true);
      return ModelSerializer.restoreMultiLayerNetwork(zip, true);
    }
  }

  static List<INDArray> outputs(Model model, List<INDArray> inputs) {
    if (model instanceof MultiLayerNetwork) {
      return List.of(((MultiLayerNetwork) model).output(inputs.get(0), false));
    }
    return Arrays.asList(((ComputationGraph) model).output(false, inputs.toArray(new INDArray[0])));
  }

  private static List<Object> save(File dir, String stem, List<INDArray> arrays) throws IOException {
    List<Object> entries = new ArrayList<>();
    for (int i = 0; i < arrays.size(); i++) {
      INDArray array = arrays.get(i).castTo(org.nd4j.linalg.api.buffer.DataType.FLOAT).dup('c');
      float[] values = array.data().asFloat();
      ByteBuffer bytes = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
      bytes.asFloatBuffer().put(values);
      String file = stem + "_" + i + ".f32";
      Files.write(new File(dir, file).toPath(), bytes.array());
      entries.add(Map.of("file", file, "shape", array.shape()));
    }
    return entries;
  }

  private static INDArray load(File file, List<Integer> shape) throws IOException {
    ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(file.toPath())).order(ByteOrder.LITTLE_ENDIAN);
    float[] values = new float[bytes.remaining() / 4];
    bytes.asFloatBuffer().get(values);
    long[] dims = shape.stream().mapToLong(Integer::longValue).toArray();
    return Nd4j.create(values, dims, 'c');
  }
}
