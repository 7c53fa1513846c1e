package optimize

// pass is a graph-level pass: run edits the graph and reports its rewrites.
type pass struct {
	name string
	// required passes cannot be disabled.
	required bool
	// once passes run only in the first step.
	once bool
	run  func(g *graph, r *run) error
}

// rulePassName is the pass that applies the rules; its rules are named
// individually in Names, Config.Disabled and Result.Rewrites.
const rulePassName = "Level1_RuleBasedTransformer"

// passes is ONNX Runtime's level-1 transformer list (1.30), in its order.
// Turning Constant nodes into initializers is what ONNX Runtime does when it
// loads a graph, before any transformer. Not here: DoubleQDQPairsRemover,
// QDQPropagationTransformer, WeightBiasQuantization and
// EnsureUniqueDQForNodeUnit (they act on models that are quantized already,
// which pre-processing does not see), FreeDimensionOverrideTransformer (no
// overrides are ever configured) and RocmBlasAltImpl (ROCm only).
var passes = []pass{
	{name: "ConstantToInitializer", required: true, once: true, run: constantsToInitializers},
	{name: rulePassName, run: applyRules},
	{name: "ConstantSharing", run: shareConstants},
	{name: "CommonSubexpressionElimination", run: eliminateCommonSubexpressions},
	{name: "ConstantFolding", run: foldConstants},
	{name: "MatMulAddFusion", run: fuseMatMulAdd},
	{name: "ReshapeFusion", run: fuseReshapes},
	{name: "GeluFusion", run: fuseGelu},
	{name: "LayerNormFusion", run: fuseLayerNorm},
	{name: "TransposeOptimizer", run: optimizeTransposes},
}
