package bigwrap.dl4jharness;

import java.util.List;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.DropoutLayer;
import org.deeplearning4j.nn.conf.layers.EmbeddingLayer;
import org.deeplearning4j.nn.conf.layers.EmbeddingSequenceLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.GravesLSTM;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.conf.layers.recurrent.LastTimeStep;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.LossFunctions.LossFunction;

/**
 * One DL4J network per layer family bigwrap imports, built with DL4J's API (never JSON by hand), its
 * parameters moved off their initial values (biases, batch-norm statistics) so every parameter matters.
 */
final class Cases {
  static final class Case {
    final String name;
    final Model model;
    final List<INDArray> inputs;

    Case(String name, Model model, INDArray... inputs) {
      this.name = name;
      this.model = model;
      this.inputs = List.of(inputs);
    }
  }

  private Cases() {}

  static List<Case> all() {
    Nd4j.getRandom().setSeed(7);
    return List.of(
        new Case("dense", dense(), normal(4, 5)),
        new Case("cnn_nchw", cnnNchw(), normal(3, 2 * 8 * 8)),
        new Case("cnn_nhwc", cnnNhwc(), normal(2, 6, 7, 3)),
        new Case("lstm", lstm(), normal(3, 3, 5)),
        new Case("lstm_last_step", lstmLastStep(), normal(2, 3, 4)),
        new Case("embedding", embedding(), ids(5, 1)),
        new Case("embedding_sequence", embeddingSequence(), ids(3, 6)),
        new Case("graph_merge", graphMerge(), normal(4, 3), normal(4, 2)),
        new Case("graph_cnn", graphCnn(), normal(2, 2, 8, 8)));
  }

  private static INDArray normal(long... shape) {
    return Nd4j.randn(DataType.FLOAT, shape);
  }

  private static INDArray ids(long rows, long steps) {
    return Nd4j.rand(DataType.FLOAT, rows, steps).muli(10).castTo(DataType.INT).castTo(DataType.FLOAT);
  }

  private static NeuralNetConfiguration.Builder base() {
    return new NeuralNetConfiguration.Builder().seed(42).dataType(DataType.FLOAT).weightInit(WeightInit.XAVIER)
        .activation(Activation.IDENTITY);
  }

  private static MultiLayerNetwork moved(MultiLayerNetwork net) {
    net.init();
    net.params().addi(Nd4j.randn(DataType.FLOAT, net.params().shape()).muli(0.2));
    return net;
  }

  private static ComputationGraph moved(ComputationGraph net) {
    net.init();
    net.params().addi(Nd4j.randn(DataType.FLOAT, net.params().shape()).muli(0.2));
    return net;
  }

  private static MultiLayerNetwork dense() {
    return moved(new MultiLayerNetwork(base().list()
        .layer(new DenseLayer.Builder().nIn(5).nOut(7).activation(Activation.RELU).build())
        .layer(new DenseLayer.Builder().nOut(6).activation(Activation.TANH).hasBias(false).build())
        .layer(new DropoutLayer.Builder(0.7).build())
        .layer(new OutputLayer.Builder(LossFunction.MCXENT).nOut(3).activation(Activation.SOFTMAX).build())
        .setInputType(InputType.feedForward(5)).build()));
  }

  /** Flat rows in: FeedForwardToCnn and CnnToFeedForward preprocessors, Same and Truncate windows, NCHW. */
  private static MultiLayerNetwork cnnNchw() {
    return moved(new MultiLayerNetwork(base().list()
        .layer(new ConvolutionLayer.Builder(3, 3).nOut(4).convolutionMode(ConvolutionMode.Same)
            .activation(Activation.RELU).build())
        .layer(new SubsamplingLayer.Builder(PoolingType.MAX).kernelSize(2, 2).stride(2, 2).build())
        .layer(new BatchNormalization.Builder().build())
        .layer(new ConvolutionLayer.Builder(2, 2).nOut(3).padding(1, 1).activation(Activation.TANH).build())
        .layer(new SubsamplingLayer.Builder(PoolingType.AVG).kernelSize(2, 2).stride(1, 1).build())
        .layer(new DenseLayer.Builder().nOut(5).activation(Activation.SIGMOID).build())
        .layer(new OutputLayer.Builder(LossFunction.MCXENT).nOut(4).activation(Activation.SOFTMAX).build())
        .setInputType(InputType.convolutionalFlat(8, 8, 2)).build()));
  }

  /** Channels-last images throughout (CNN2DFormat.NHWC). */
  private static MultiLayerNetwork cnnNhwc() {
    CNN2DFormat nhwc = CNN2DFormat.NHWC;
    return moved(new MultiLayerNetwork(base().list()
        .layer(new ConvolutionLayer.Builder(3, 3).stride(2, 2).nOut(4).convolutionMode(ConvolutionMode.Same)
            .dataFormat(nhwc).activation(Activation.RELU).build())
        .layer(new BatchNormalization.Builder().dataFormat(nhwc).useLogStd(false).build())
        .layer(new SubsamplingLayer.Builder(PoolingType.MAX).kernelSize(2, 2).stride(1, 1).dataFormat(nhwc).build())
        .layer(new DenseLayer.Builder().nOut(5).activation(Activation.TANH).build())
        .layer(new OutputLayer.Builder(LossFunction.MSE).nOut(2).build())
        .setInputType(InputType.convolutional(6, 7, 3, nhwc)).build()));
  }

  /** LSTM → Dense per step (RnnToFeedForward / FeedForwardToRnn preprocessors) → GravesLSTM → RnnOutputLayer. */
  private static MultiLayerNetwork lstm() {
    return moved(new MultiLayerNetwork(base().list()
        .layer(new LSTM.Builder().nOut(4).activation(Activation.TANH).build())
        .layer(new DenseLayer.Builder().nOut(5).activation(Activation.RELU).build())
        .layer(new GravesLSTM.Builder().nOut(3).activation(Activation.SOFTSIGN).build())
        .layer(new RnnOutputLayer.Builder(LossFunction.MSE).nOut(2).activation(Activation.IDENTITY).build())
        .setInputType(InputType.recurrent(3, 5)).build()));
  }

  private static MultiLayerNetwork lstmLastStep() {
    return moved(new MultiLayerNetwork(base().list()
        .layer(new LastTimeStep(new LSTM.Builder().nOut(4).activation(Activation.TANH).build()))
        .layer(new OutputLayer.Builder(LossFunction.MCXENT).nOut(2).activation(Activation.SOFTMAX).build())
        .setInputType(InputType.recurrent(3, 4)).build()));
  }

  private static MultiLayerNetwork embedding() {
    return moved(new MultiLayerNetwork(base().list()
        .layer(new EmbeddingLayer.Builder().nIn(10).nOut(4).build())
        .layer(new DenseLayer.Builder().nIn(4).nOut(3).activation(Activation.RELU).build())
        .layer(new OutputLayer.Builder(LossFunction.MCXENT).nIn(3).nOut(2).activation(Activation.SOFTMAX).build())
        .build()));
  }

  private static MultiLayerNetwork embeddingSequence() {
    return moved(new MultiLayerNetwork(base().list()
        .layer(new EmbeddingSequenceLayer.Builder().nIn(10).nOut(4).inputLength(6).build())
        .layer(new LSTM.Builder().nIn(4).nOut(5).activation(Activation.TANH).build())
        .layer(new RnnOutputLayer.Builder(LossFunction.MSE).nIn(5).nOut(2).activation(Activation.IDENTITY).build())
        .build()));
  }

  /** Two inputs, MergeVertex and every ElementWiseVertex op, two outputs. */
  private static ComputationGraph graphMerge() {
    return moved(new ComputationGraph(base().graphBuilder().addInputs("a", "b")
        .addLayer("da", new DenseLayer.Builder().nIn(3).nOut(4).activation(Activation.RELU).build(), "a")
        .addLayer("db", new DenseLayer.Builder().nIn(2).nOut(4).activation(Activation.TANH).build(), "b")
        .addVertex("merged", new MergeVertex(), "da", "db")
        .addVertex("sum", new ElementWiseVertex(ElementWiseVertex.Op.Add), "da", "db")
        .addVertex("product", new ElementWiseVertex(ElementWiseVertex.Op.Product), "da", "db")
        .addVertex("difference", new ElementWiseVertex(ElementWiseVertex.Op.Subtract), "da", "db")
        .addVertex("average", new ElementWiseVertex(ElementWiseVertex.Op.Average), "da", "db")
        .addVertex("maximum", new ElementWiseVertex(ElementWiseVertex.Op.Max), "da", "db")
        .addVertex("all", new MergeVertex(), "merged", "sum", "product", "difference", "average", "maximum")
        .addLayer("out", new OutputLayer.Builder(LossFunction.MCXENT).nIn(28).nOut(3)
            .activation(Activation.SOFTMAX).build(), "all")
        .setOutputs("out", "sum").build()));
  }

  /** Image branches joined on channels (MergeVertex) and added (ElementWiseVertex), global pooling, preprocessors. */
  private static ComputationGraph graphCnn() {
    return moved(new ComputationGraph(base().graphBuilder().addInputs("image")
        .setInputTypes(InputType.convolutional(8, 8, 2))
        .addLayer("c1", new ConvolutionLayer.Builder(3, 3).nOut(3).convolutionMode(ConvolutionMode.Same)
            .activation(Activation.RELU).build(), "image")
        .addLayer("c2", new ConvolutionLayer.Builder(1, 1).nOut(3).build(), "image")
        .addVertex("residual", new ElementWiseVertex(ElementWiseVertex.Op.Add), "c1", "c2")
        .addVertex("channels", new MergeVertex(), "c1", "c2")
        .addLayer("pool", new SubsamplingLayer.Builder(PoolingType.MAX).kernelSize(2, 2).stride(2, 2).build(),
            "channels")
        .addLayer("dense", new DenseLayer.Builder().nOut(4).activation(Activation.RELU).build(), "pool")
        .addLayer("global", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "residual")
        .addVertex("joined", new MergeVertex(), "dense", "global")
        .addLayer("out", new OutputLayer.Builder(LossFunction.MCXENT).nOut(2).activation(Activation.SOFTMAX).build(),
            "joined")
        .setOutputs("out").build()));
  }
}
