#!/usr/bin/python3
"""The zoo gate: runs the product binary on every model of a directory and checks
that the output is no worse than the input. bench/zoo.sh is the entry point (it
builds the binary and finds the reference tools); README.md says how to run it.

For each model (and each fault-injection variant of it that the gate makes), and
for each flag set (default: quantprep's defaults), one row of checks:

  run      quantprep preprocess exits 0
  checker  onnx.checker passes on the output (path form)
  ort_a    ONNX Runtime runs the output and gives the input's outputs at dims A
  ort_b    ... and at dims B (other batch, sequence and image sizes)
  truth_a  shape_truth.py: no shape recorded in the output's main graph is wrong at dims A
  truth_b  ... nor at dims B (ONNX Runtime running the output at A and B checks subgraphs)
  dyn      every dim that cannot be verified from the input dims is data-dependent:
           the node that introduces its symbol is, or reads through its inputs,
           one of DATA_DEPENDENT (listed per model with the introducing op)
  nodes    nodes of the output (all graphs) are at most ONNX Runtime's basic level's
           on the same input (ort_optimize.js basic)

Each check is pass, fail or "-" (not applicable: an earlier check failed, the
optimization step is skipped, or the variant does not apply to the model).

Variants (made from each model, in WORK/variants):
  shuffled  the nodes of every graph in a seeded random order (ONNX Runtime sorts them)
  fp16      float weights and computation in float16 with float32 inputs and outputs;
            the input/output Casts are appended after the nodes, as converters do
            (models without subgraphs only)
  novi      every value_info removed
  shared    value_info in which symbols that ONNX Runtime shows to differ (at dims
            A or B) are renamed to one shared symbol: a false claim the output must
            not propagate

Regressions: --results TSV is the committed table. A check that passes there and
does not pass now is a regression and makes the exit status 1; --update writes
this run's rows into it (rows of models not run stay).
"""
import argparse
import contextlib
import importlib.util
import io
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import numpy_helper, helper, TensorProto

CHECKS = ["run", "checker", "ort_a", "ort_b", "truth_a", "truth_b", "dyn", "nodes"]
COLUMNS = ["model", "variant", "flags"] + CHECKS + ["ours_nodes", "ort_nodes", "note"]

# Values of the symbolic input dims. Names the zoo uses; any other symbolic input
# dim gets 3 from the ONNX Runtime scripts (and its dims are then unverifiable).
DIMS_A = {"batch": 1, "sequence": 7, "target_sequence": 5, "height": 320, "width": 320}
DIMS_B = {"batch": 3, "sequence": 33, "target_sequence": 12, "height": 288, "width": 416}

# Operators whose output sizes depend on tensor values, not only on input shapes.
# TopK is one only when its k is: k computed from shapes alone is not.
DATA_DEPENDENT = {"NonZero", "NonMaxSuppression", "Unique", "Compress", "Loop", "Scan", "If",
                  "StringSplit"}

VARIANTS = ["shuffled", "fp16", "novi", "shared"]
TIMEOUT = 1800


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def run(cmd, timeout=TIMEOUT):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired:
        return 124, "", "timed out after %d s" % timeout


def last_line(s, n=240):
    lines = [l for l in s.strip().splitlines() if l.strip()]
    return (lines[-1] if lines else "")[:n]


# ---------- graphs ----------

def subgraphs(n):
    for a in n.attribute:
        if a.type == onnx.AttributeProto.GRAPH:
            yield a.g
        elif a.type == onnx.AttributeProto.GRAPHS:
            yield from a.graphs


def all_graphs(g):
    yield g
    for n in g.node:
        for s in subgraphs(n):
            yield from all_graphs(s)


def count_nodes(g):
    return sum(len(x.node) for x in all_graphs(g))


def has_subgraphs(g):
    return any(True for n in g.node for _ in subgraphs(n))


def load(path, data=True):
    return onnx.load(path, load_external_data=data)


def save(m, path):
    onnx.save(m, path, save_as_external_data=m.ByteSize() > 1.8e9)


# ---------- ONNX Runtime truth of the main graph ----------

class Tools:
    def __init__(self, d):
        self.d = d
        for f in ("ort_compare.js", "ort_dims.js", "ort_optimize.js", "shape_truth.py"):
            if not os.path.exists(os.path.join(d, f)):
                sys.exit("zoo.py: %s not found in %s (QP_ORACLE_TOOLS)" % (f, d))

    def path(self, f):
        return os.path.join(self.d, f)


def all_dims(tools, path, dims):
    """The real dims of every main-graph node output when ONNX Runtime runs path."""
    m = load(path)
    have = {o.name for o in m.graph.output}
    # sequences and other non-tensors cannot be fetched as tensors: skip them
    try:
        inf = onnx.shape_inference.infer_shapes(load(path, data=False))
        nontensor = {vi.name for vi in inf.graph.value_info if not vi.type.HasField("tensor_type")}
    except Exception:
        nontensor = set()
    for n in m.graph.node:
        for o in n.output:
            if o and o not in have and o not in nontensor:
                m.graph.output.add(name=o)
                have.add(o)
    with tempfile.TemporaryDirectory() as td:
        p = os.path.join(td, "all.onnx")
        save(m, p)
        rc, out, err = run(["node", tools.path("ort_dims.js"), p, json.dumps(dims)])
    if rc != 0:
        raise RuntimeError("ONNX Runtime cannot run it: " + last_line(err))
    return json.loads(out)


# ---------- variants ----------

def shuffled(m, tools, src):
    rng = random.Random(7)
    for g in list(all_graphs(m.graph)):
        nodes = list(g.node)
        rng.shuffle(nodes)
        del g.node[:]
        g.node.extend(nodes)
    return m, ""


def novi(m, tools, src):
    for g in all_graphs(m.graph):
        del g.value_info[:]
    return m, ""


# float32-only inputs in ONNX Runtime's CPU kernels, or operators a converter keeps in float32
FP16_KEEP = {"Resize", "Upsample", "RoiAlign", "NonMaxSuppression", "TopK", "Range", "CumSum",
             "RandomUniformLike", "RandomNormalLike", "Multinomial"}


def fp16(m, tools, src):
    """Converts the main graph to float16, keeping float32 inputs and outputs."""
    if has_subgraphs(m.graph):
        raise NotApplicable("has subgraphs")
    g = m.graph
    inf = onnx.shape_inference.infer_shapes(m)
    elem = {}
    for vi in list(inf.graph.input) + list(inf.graph.value_info) + list(inf.graph.output):
        elem[vi.name] = vi.type.tensor_type.elem_type
    for t in g.initializer:
        elem[t.name] = t.data_type
    F = TensorProto.FLOAT
    for n in g.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    elem[n.output[0]] = a.t.data_type
    for t in g.initializer:
        if t.data_type == F:
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name))
    tail = []
    for n in list(g.node):
        for a in n.attribute:
            if n.op_type in ("Constant", "ConstantOfShape") and a.name == "value" and a.t.data_type == F:
                a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype(np.float16), a.t.name))
            if n.op_type == "Cast" and a.name == "to" and a.i == F:
                a.i = TensorProto.FLOAT16
        if n.op_type in FP16_KEEP:
            for i, x in enumerate(n.input):
                if x and elem.get(x) == F:
                    c = "%s_fp32_in_%d" % (n.name or n.output[0], i)
                    tail.append(helper.make_node("Cast", [x], [c], to=F, name=c))
                    n.input[i] = c
            for i, y in enumerate(n.output):
                if y and elem.get(y) == F:
                    c = "%s_fp32_out_%d" % (n.name or y, i)
                    tail.append(helper.make_node("Cast", [c], [y], to=TensorProto.FLOAT16, name=c))
                    n.output[i] = c
    renames = {}
    for k, vi in enumerate(g.input):
        if vi.type.tensor_type.elem_type == F:
            c = "graph_input_cast_%d" % k
            renames[vi.name] = c
            tail.append(helper.make_node("Cast", [vi.name], [c], to=TensorProto.FLOAT16, name=c))
    for n in g.node:
        for i, x in enumerate(n.input):
            if x in renames:
                n.input[i] = renames[x]
    for t in tail:
        for i, x in enumerate(t.input):
            if x in renames and not t.name.startswith("graph_input_cast_"):
                t.input[i] = renames[x]
    for k, vi in enumerate(g.output):
        if vi.type.tensor_type.elem_type == F:
            c = "graph_output_cast_%d" % k
            for n in list(g.node) + tail:
                for i, y in enumerate(n.output):
                    if y == vi.name:
                        n.output[i] = c
                for i, x in enumerate(n.input):
                    if x == vi.name:
                        n.input[i] = c
            tail.append(helper.make_node("Cast", [c], [vi.name], to=F, name=c))
    # the layout of converters that append their Casts: not in topological order
    g.node.extend(tail)
    del g.value_info[:]
    return m, ""


def shared(m, tools, src):
    """Renames value_info symbols whose real sizes differ to one shared symbol."""
    truth = [all_dims(tools, src, DIMS_A), all_dims(tools, src, DIMS_B)]
    g = m.graph
    if not any(d.dim_param for vi in g.value_info for d in vi.type.tensor_type.shape.dim):
        inf = onnx.shape_inference.infer_shapes(m)
        del g.value_info[:]
        g.value_info.extend(inf.graph.value_info)
    sig = {}  # dim_param -> set of (size at A, size at B)
    inputs = {d.dim_param for vi in g.input for d in vi.type.tensor_type.shape.dim if d.dim_param}
    for vi in g.value_info:
        if vi.name not in truth[0] or vi.name not in truth[1]:
            continue
        dims = vi.type.tensor_type.shape.dim
        if len(dims) != len(truth[0][vi.name]) or len(dims) != len(truth[1][vi.name]):
            continue
        for k, d in enumerate(dims):
            if d.dim_param and d.dim_param not in inputs:
                sig.setdefault(d.dim_param, set()).add((truth[0][vi.name][k], truth[1][vi.name][k]))
    single = sorted(p for p, s in sig.items() if len(s) == 1)
    pairs, used = [], set()
    for i, p in enumerate(single):
        if p in used:
            continue
        for q in single[i + 1:]:
            if q not in used and sig[q] != sig[p]:
                pairs.append((p, q))
                used.update((p, q))
                break
        if len(pairs) == 4:
            break
    if not pairs:
        raise NotApplicable("no two value_info symbols of different sizes to share")
    rename = {q: p for p, q in pairs}
    for x in all_graphs(g):
        for vi in list(x.value_info):
            for d in vi.type.tensor_type.shape.dim:
                if d.dim_param in rename:
                    d.dim_param = rename[d.dim_param]
    return m, "shared: " + ", ".join("%s=%s" % pq for pq in pairs)


class NotApplicable(Exception):
    pass


MAKERS = {"shuffled": shuffled, "fp16": fp16, "novi": novi, "shared": shared}


def make_variant(tools, kind, src, dst):
    """Writes variant kind of src to dst; returns a note. NotApplicable if it does not apply."""
    if os.path.exists(dst) and os.path.exists(dst + ".note"):
        note = open(dst + ".note").read()
        if note.startswith("n/a: "):
            raise NotApplicable(note[5:])
        return note
    m = load(src)
    try:
        m, note = MAKERS[kind](m, tools, src)
    except NotApplicable as e:
        open(dst + ".note", "w").write("n/a: " + str(e))
        raise
    save(m, dst)
    open(dst + ".note", "w").write(note)
    return note


# ---------- checks ----------

def checker(path):
    try:
        onnx.checker.check_model(path)
        return True, ""
    except Exception as e:
        return False, str(e).replace("\n", " ")[:240]


class Cache:
    def __init__(self, path):
        self.path = path
        self.d = json.load(open(path)) if os.path.exists(path) else {}

    def key(self, path, what):
        st = os.stat(path)
        h = hashlib.sha1(("%s %d %d" % (os.path.abspath(path), st.st_size, st.st_mtime_ns)).encode()).hexdigest()
        return h + ":" + what

    def get(self, path, what, fn):
        k = self.key(path, what)
        if k not in self.d:
            self.d[k] = fn()
            json.dump(self.d, open(self.path, "w"))
        return self.d[k]


def ort_basic_nodes(tools, path):
    with tempfile.TemporaryDirectory() as td:
        out = os.path.join(td, "basic.onnx")
        rc, _, err = run(["node", tools.path("ort_optimize.js"), path, out, "basic"])
        if rc != 0:
            return {"error": last_line(err)}
        return {"nodes": count_nodes(load(out, data=False).graph)}


def real_dims(tools, work, path, dims):
    """all_dims of path at dims, cached in WORK/truth; None when it does not run."""
    st = os.stat(path)
    key = hashlib.sha1(("%s %d %d %s" % (os.path.abspath(path), st.st_size, st.st_mtime_ns,
                                          json.dumps(dims, sort_keys=True))).encode()).hexdigest()
    f = os.path.join(work, "truth", key + ".json")
    if not os.path.exists(f):
        os.makedirs(os.path.dirname(f), exist_ok=True)
        try:
            d = all_dims(tools, path, dims)
        except RuntimeError:
            d = None
        json.dump(d, open(f, "w"))
    return json.load(open(f))


def original_runs(tools, path, dims):
    # ort_dims.js with the default graph: the outputs only
    rc, _, err = run(["node", tools.path("ort_dims.js"), path, json.dumps(dims)])
    return {"ok": rc == 0, "error": last_line(err)}


def compare(tools, cache, inp, out, dims, tol):
    d = dict(dims)
    if tol:
        d["~tol"] = tol
    rc, o, err = run(["node", tools.path("ort_compare.js"), inp, out, json.dumps(d)])
    if rc == 0:
        return "pass", ""
    if rc == 2 and not cache.get(inp, "runs " + json.dumps(dims), lambda: original_runs(tools, inp, dims))["ok"]:
        return "-", "the input does not run in ONNX Runtime at these dims"
    return "fail", last_line(o if rc == 1 else err)


_FLOAT_FUNCS = None


def float_functions():
    """sympy definitions of the float functions that quantprep writes in dims computed
    with float arithmetic (pipeline/sym/float.go): f32(d) rounds the integer d to
    float32, fmul32/fdiv32/fadd32/fsub32 round a product, quotient, sum or difference
    to float32, fsqrt32 a square root, fmin32/fmax32 pick one (64: float64). They
    evaluate with numpy's IEEE arithmetic at numbers, so that shape_truth checks such
    dims against ONNX Runtime instead of counting them unverifiable."""
    global _FLOAT_FUNCS
    if _FLOAT_FUNCS is not None:
        return _FLOAT_FUNCS
    import sympy

    def make(name, t, f, nargs):
        def ev(cls, *args):
            if len(args) == nargs and all(a.is_Number for a in args):
                with np.errstate(all="ignore"):
                    r = f(*[t(float(a)) for a in args])
                if np.isfinite(r):
                    return sympy.Rational(float(r))
            return None
        return type(name, (sympy.Function,), {"eval": classmethod(ev), "nargs": nargs})

    funcs = {}
    for bits, t in ((32, np.float32), (64, np.float64)):
        def cast(a, t=t):
            return t(a)
        funcs["f%d" % bits] = make("f%d" % bits, lambda x, t=t: t(int(x)), lambda a: a, 1)
        for name, f in (("fmul", lambda a, b: a * b), ("fdiv", lambda a, b: a / b),
                        ("fadd", lambda a, b: a + b), ("fsub", lambda a, b: a - b),
                        ("fmin", min), ("fmax", max)):
            funcs["%s%d" % (name, bits)] = make("%s%d" % (name, bits), t, f, 2)
        funcs["fsqrt%d" % bits] = make("fsqrt%d" % bits, t, np.sqrt, 1)
    _FLOAT_FUNCS = funcs
    return funcs


# a dim_param that uses the float functions
_FLOAT_CALL = re.compile(r"(?<![A-Za-z0-9_])f(?:mul|div|add|sub|min|max|sqrt)?(?:32|64)\(")


def _exact(t):
    """float_functions() on Python numbers: exact rationals in, exact rationals out."""
    import fractions
    import math

    def rat(x):
        if not np.isfinite(x):
            raise ValueError("not finite")
        return fractions.Fraction(float(x))

    env = {"floor": math.floor, "ceiling": math.ceil, "Min": min, "Max": max, "Mod": lambda a, b: a % b}
    for bits, ft in ((32, np.float32), (64, np.float64)):
        env["f%d" % bits] = lambda d, ft=ft: rat(ft(int(d)))
        for name, f in (("fmul", lambda a, b: a * b), ("fdiv", lambda a, b: a / b),
                        ("fadd", lambda a, b: a + b), ("fsub", lambda a, b: a - b),
                        ("fmin", min), ("fmax", max)):
            env["%s%d" % (name, bits)] = lambda a, b, f=f, ft=ft: rat(f(ft(float(a)), ft(float(b))))
        env["fsqrt%d" % bits] = lambda a, ft=ft: rat(np.sqrt(ft(float(a))))
    return env


class _FastDim:
    """A dim_param with float functions, as shape_truth.py uses a sympy expression
    (subs, then free_symbols and int): evaluated with Python's exact rationals and
    numpy's IEEE floats, because sympy takes about a second on each of the
    kilobyte-long sizes of a detection model. Integer literals are rationals, so
    that a/b is exact and floor(a/b) is floor division, as sympy reads it."""

    def __init__(self, sympy, text, locals):
        import ast
        tree = ast.parse(text, mode="eval")

        class Rationals(ast.NodeTransformer):
            def visit_Constant(self, node):
                if isinstance(node.value, int):
                    return ast.copy_location(ast.Call(ast.Name("_R", ast.Load()), [node], []), node)
                return node
        tree = ast.fix_missing_locations(Rationals().visit(tree))
        self.code = compile(tree, "<dim>", "eval")
        self.text, self.locals, self.sympy = text, locals, sympy

    def subs(self, values):
        import fractions
        env = dict(_exact(None), _R=fractions.Fraction)
        env.update({str(k): fractions.Fraction(int(v)) for k, v in values.items()})
        try:
            v = eval(self.code, {"__builtins__": {}}, env)
        except NameError:
            # a symbol without a value: sympy's answer (free symbols: unverifiable)
            return self.sympy.sympify(self.text, locals={**float_functions(), **self.locals}).subs(values)
        return self.sympy.Rational(v.numerator, v.denominator) if isinstance(v, fractions.Fraction) else self.sympy.Integer(v)


class _SympyWithFloats:
    """The sympy module for shape_truth.py, its sympify knowing float_functions()."""

    def __init__(self, sympy):
        self._sympy = sympy
        self._cache = {}

    def __getattr__(self, k):
        return getattr(self._sympy, k)

    def sympify(self, expr, locals=None, **kw):
        if isinstance(expr, str) and _FLOAT_CALL.search(expr) and not kw:
            if expr not in self._cache:
                self._cache[expr] = _FastDim(self._sympy, expr, locals or {})
            return self._cache[expr]
        return self._sympy.sympify(expr, locals={**float_functions(), **(locals or {})}, **kw)


def truth(tools, work, inp, out, dims):
    """shape_truth.py's verdict, its run of the input replaced by the cached one."""
    real = real_dims(tools, work, inp, dims)
    if real is None:
        return "-", "the input does not run in ONNX Runtime at these dims"
    spec = importlib.util.spec_from_file_location("shape_truth", tools.path("shape_truth.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.actual_dims = lambda orig, d: real
    mod.sympy = _SympyWithFloats(mod.sympy)
    argv, buf = sys.argv, io.StringIO()
    sys.argv = ["shape_truth.py", inp, out, json.dumps(dims)]
    try:
        with contextlib.redirect_stdout(buf):
            mod.main()
    except (Exception, SystemExit) as e:
        return "-", "shape_truth: %s" % str(e)[:200]
    finally:
        sys.argv = argv
    t = json.loads(last_line(buf.getvalue(), 10 ** 6))
    if t.get("wrong", 0) == 0:
        return "pass", ""
    return "fail", "%d wrong, e.g. %s" % (t["wrong"], json.dumps(t.get("wrong_examples", [])[:3]))


_ident = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


def atoms(param, known):
    """The parts of a dim_param that the input dims cannot give a value: its free
    symbols other than known input dims, or the whole name when it is not an
    expression (exporters' names such as 'Squeeze/a/b_dim_0' are opaque)."""
    if param in known:
        return set()
    if _FLOAT_CALL.search(param):
        # sympy is slow on these: the names that are not calls are the symbols
        names = set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*(?![A-Za-z_0-9]*\s*\()", param))
        if re.fullmatch(r"[A-Za-z_0-9()+\-*/, ]*", param):
            return {n for n in names if n not in known}
        return {param}
    try:
        import sympy
        alias = {k: "qpd%d" % i for i, k in enumerate(sorted(known, key=len, reverse=True))}
        expr = param
        for k, a in alias.items():
            expr = re.sub(r"(?<![A-Za-z0-9_])%s(?![A-Za-z0-9_])" % re.escape(k), a, expr)
        e = sympy.sympify(expr, locals={a: sympy.Symbol(a, integer=True, nonnegative=True) for a in alias.values()})
        back = {v: k for k, v in alias.items()}
        free = {str(s) for s in e.free_symbols}
        return {s for s in free if s not in back}
    except Exception:
        return {param}


def dyn_check(path, known, truths):
    """Unverifiable dims of the main graph's node outputs: for each symbol, the node
    that introduces it (an output has it, no input does) and whether that node or an
    ancestor is data-dependent. truths are the real dims of the input's node outputs
    at each set of dims (or None): a symbol that stands for two different real
    sizes in one run is falsely shared."""
    m = load(path, data=False)
    g = m.graph
    shape = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
            shape[vi.name] = vi.type.tensor_type.shape.dim
    cache = {}

    def atoms_of(name):
        out = set()
        for d in shape.get(name, []):
            if d.HasField("dim_param"):
                if d.dim_param not in cache:
                    cache[d.dim_param] = atoms(d.dim_param, known)
                out |= cache[d.dim_param]
        return out

    producer = {o: n for n in g.node for o in n.output if o}
    dd_anc = {}

    graph_inputs = {vi.name for vi in g.input} - {t.name for t in g.initializer}

    def data_dependent(n):
        # n or a node it reads from (in the main graph) is data-dependent; a
        # TopK is when its k is (read from an input, or from such a node)
        if id(n) in dd_anc:
            return dd_anc[id(n)]
        dd_anc[id(n)] = None
        stack, seen = [n], set()
        while stack:
            x = stack.pop()
            if id(x) in seen:
                continue
            seen.add(id(x))
            if x.op_type in DATA_DEPENDENT:
                dd_anc[id(n)] = x.op_type
                return x.op_type
            if x.op_type == "TopK" and len(x.input) > 1:
                k = x.input[1]
                why = "TopK (k is an input)" if k in graph_inputs else (
                    data_dependent(producer[k]) if k in producer else None)
                if why:
                    dd_anc[id(n)] = why
                    return why
            for i in x.input:
                if i in producer:
                    stack.append(producer[i])
        return None

    intro = {}  # atom -> (op, node name, data-dependent ancestor or None)
    for vi in list(g.input):
        for a in atoms_of(vi.name):
            intro.setdefault(a, ("graph input", vi.name, "input"))
    for n in g.node:
        ins = set()
        for i in n.input:
            ins |= atoms_of(i)
        for o in n.output:
            for a in atoms_of(o) - ins:
                if a not in intro:
                    intro[a] = (n.op_type, n.name or o, data_dependent(n))
    used = {}
    for n in g.node:
        for o in n.output:
            for a in atoms_of(o):
                used[a] = used.get(a, 0) + 1
    rows = []
    for a, k in sorted(used.items()):
        op, name, dd = intro.get(a, ("?", "?", None))
        rows.append({"symbol": a, "tensors": k, "op": op, "node": name, "data_dependent": dd})
    # falsely shared: one dim_param, two real sizes in one run
    sizes = [{} for _ in truths]
    for vi in list(g.value_info) + list(g.output):
        dims = shape.get(vi.name)
        if dims is None:
            continue
        for t, truth in enumerate(truths):
            real = (truth or {}).get(vi.name)
            if real is None or len(real) != len(dims):
                continue
            for k, d in enumerate(dims):
                if d.HasField("dim_param") and cache.get(d.dim_param):
                    sizes[t].setdefault(d.dim_param, {}).setdefault(real[k], vi.name)
    false_shared = {}
    for t, sz in enumerate(sizes):
        for p, by in sz.items():
            if len(by) > 1:
                false_shared[p] = "dims %s: %s" % ("AB"[t], ", ".join("%s is %d" % (n, v) for v, n in sorted(by.items())[:3]))
    for r in rows:
        if r["symbol"] in false_shared:
            r["false_shared"] = false_shared.pop(r["symbol"])
    for p, why in false_shared.items():
        rows.append({"symbol": p, "tensors": 0, "op": "?", "node": "?", "data_dependent": None, "false_shared": why})
    ok = all(r["data_dependent"] and not r.get("false_shared") for r in rows)
    return ok, rows


# ---------- driver ----------

def parse_flagsets(specs):
    out = [("default", [])]
    for s in specs:
        name, _, args = s.partition("=")
        out.append((name, args.split()))
    return out


def find_models(d, only):
    found = []
    for e in sorted(os.listdir(d)):
        p = os.path.join(d, e)
        if os.path.isdir(p) and os.path.exists(os.path.join(p, "model.onnx")):
            found.append((e, os.path.join(p, "model.onnx")))
        elif e.endswith(".onnx") and os.path.isfile(p):
            found.append((e[:-5], p))
    if only:
        want = set(only.split(","))
        found = [f for f in found if f[0] in want]
    return found


def check_one(args, tools, cache, name, variant, inp, flagname, flags):
    row = {c: "-" for c in COLUMNS}
    row.update(model=name, variant=variant, flags=flagname, note="")
    notes, details = [], {}
    outdir = os.path.join(args.work, "out", "%s.%s.%s" % (name, variant, flagname))
    os.makedirs(outdir, exist_ok=True)
    out = os.path.join(outdir, "model.onnx")
    t0 = time.time()
    rc, so, se = run([args.bin, "preprocess", "--input", inp, "--output", out, "--json"] + flags)
    details["seconds"] = round(time.time() - t0, 2)
    if rc != 0:
        row["run"] = "fail"
        row["note"] = last_line(se)
        return row, details
    row["run"] = "pass"
    try:
        details["warnings"] = json.loads(so).get("warnings", [])
    except Exception:
        pass
    ok, msg = checker(out)
    row["checker"] = "pass" if ok else "fail"
    if msg:
        notes.append("checker: " + msg)
    tol = 0.05 if variant == "fp16" else None
    for col, dims in (("ort_a", DIMS_A), ("ort_b", DIMS_B)):
        row[col], msg = compare(tools, cache, inp, out, dims, tol)
        if msg:
            notes.append("%s: %s" % (col, msg))
    for col, dims in (("truth_a", DIMS_A), ("truth_b", DIMS_B)):
        row[col], msg = truth(tools, args.work, inp, out, dims)
        if msg:
            notes.append("%s: %s" % (col, msg))
    known = set(DIMS_A)
    truths = [real_dims(tools, args.work, inp, d) for d in (DIMS_A, DIMS_B)]
    ok, rows = dyn_check(out, known, truths)
    row["dyn"] = "pass" if ok else "fail"
    details["unverifiable"] = rows
    if not ok:
        bad = ["%s from %s %s" % (r["symbol"], r["op"], r["node"]) for r in rows if not r["data_dependent"]]
        if bad:
            notes.append("dyn: %d not data-dependent, e.g. %s" % (len(bad), "; ".join(bad[:3])))
        shared = ["%s (%s)" % (r["symbol"], r["false_shared"]) for r in rows if r.get("false_shared")]
        if shared:
            notes.append("dyn: %d falsely shared, e.g. %s" % (len(shared), "; ".join(shared[:2])))
    ours = count_nodes(load(out, data=False).graph)
    row["ours_nodes"] = str(ours)
    if "--skip_optimization" not in flags:
        b = cache.get(inp, "ort basic nodes", lambda: ort_basic_nodes(tools, inp))
        if "nodes" in b:
            row["ort_nodes"] = str(b["nodes"])
            row["nodes"] = "pass" if ours <= b["nodes"] else "fail"
        else:
            notes.append("ort_optimize: " + b["error"])
    row["note"] = " | ".join(notes)
    if not args.keep:
        for f in os.listdir(outdir):
            os.remove(os.path.join(outdir, f))
        os.rmdir(outdir)
    return row, details


def read_tsv(path):
    rows = {}
    if not path or not os.path.exists(path):
        return rows
    with open(path) as f:
        head = None
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            cells = line.rstrip("\n").split("\t")
            if head is None:
                head = cells
                continue
            r = dict(zip(head, cells))
            rows[(r["model"], r["variant"], r["flags"])] = r
    return rows


def write_tsv(path, rows):
    with open(path, "w") as f:
        f.write("# the zoo gate's results (bench/zoo.sh); a check that passes here must keep passing\n")
        f.write("\t".join(COLUMNS) + "\n")
        for k in sorted(rows):
            r = rows[k]
            f.write("\t".join(str(r.get(c, "-")).replace("\t", " ") for c in COLUMNS) + "\n")


def markdown(rows):
    out = ["| model | variant | flags | " + " | ".join(CHECKS[:-1]) + " | nodes (ours / ORT basic) |",
           "|" + "---|" * (len(CHECKS) + 3)]
    for r in rows:
        nodes = "%s %s / %s" % (r["nodes"], r["ours_nodes"], r["ort_nodes"])
        out.append("| %s | %s | %s | %s | %s |" % (r["model"], r["variant"], r["flags"],
                                                   " | ".join(r[c] for c in CHECKS[:-1]), nodes))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("models", help="directory of models: DIR/NAME/model.onnx or DIR/NAME.onnx")
    ap.add_argument("--bin", required=True, help="the quantprep binary")
    ap.add_argument("--tools", required=True, help="directory of the reference tools (ort_compare.js, ...)")
    ap.add_argument("--work", required=True, help="directory for variants, outputs, logs and the cache")
    ap.add_argument("--only", default="", help="comma-separated model names (default: all)")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated variants, or 'none'")
    ap.add_argument("--flags", action="append", default=[], metavar="NAME=ARGS",
                    help="another flag set, e.g. nosym='--skip_symbolic_shape' (repeatable)")
    ap.add_argument("--results", default="", help="committed results TSV to check against")
    ap.add_argument("--update", action="store_true", help="write this run's rows into --results")
    ap.add_argument("--keep", action="store_true", help="keep the outputs")
    args = ap.parse_args()
    tools = Tools(args.tools)
    os.makedirs(os.path.join(args.work, "variants"), exist_ok=True)
    cache = Cache(os.path.join(args.work, "cache.json"))
    variants = [] if args.variants == "none" else [v for v in args.variants.split(",") if v]
    for v in variants:
        if v not in MAKERS:
            sys.exit("zoo.py: unknown variant %s (known: %s)" % (v, ", ".join(VARIANTS)))
    flagsets = parse_flagsets(args.flags)
    models = find_models(args.models, args.only)
    if not models:
        sys.exit("zoo.py: no models in " + args.models)
    rows, details = [], {}
    for name, path in models:
        inputs = [("original", path, "")]
        for v in variants:
            dst = os.path.join(args.work, "variants", "%s.%s.onnx" % (name, v))
            try:
                note = make_variant(tools, v, path, dst)
                runs = cache.get(dst, "runs " + json.dumps(DIMS_A), lambda: original_runs(tools, dst, DIMS_A))
                if not runs["ok"]:
                    raise NotApplicable("the variant does not run in ONNX Runtime: " + runs["error"])
                inputs.append((v, dst, note))
            except NotApplicable as e:
                r = {c: "-" for c in COLUMNS}
                r.update(model=name, variant=v, flags="default", note="n/a: " + str(e))
                rows.append(r)
            except Exception as e:
                r = {c: "-" for c in COLUMNS}
                r.update(model=name, variant=v, flags="default", note="variant not made: %s" % str(e)[:200])
                rows.append(r)
        for variant, inp, vnote in inputs:
            for fname, flags in flagsets:
                log("== %s %s %s" % (name, variant, fname))
                row, det = check_one(args, tools, cache, name, variant, inp, fname, flags)
                if vnote:
                    row["note"] = (vnote + " | " + row["note"]).strip(" |")
                rows.append(row)
                details["%s.%s.%s" % (name, variant, fname)] = det
                log("   " + " ".join("%s=%s" % (c, row[c]) for c in CHECKS) +
                    " nodes %s/%s %.1fs" % (row["ours_nodes"], row["ort_nodes"], det.get("seconds", 0)))
                if row["note"]:
                    log("   note: " + row["note"][:600])
    order = {v: i for i, v in enumerate(["original"] + VARIANTS)}
    rows.sort(key=lambda r: (r["model"], order.get(r["variant"], 99), r["flags"]))
    write_tsv(os.path.join(args.work, "results.tsv"), {(r["model"], r["variant"], r["flags"]): r for r in rows})
    json.dump(details, open(os.path.join(args.work, "details.json"), "w"), indent=1)
    print(markdown(rows))
    print()
    print("Unverifiable dims of the main graph, by the op introducing the symbol (data-dependent ancestor):")
    for k, det in details.items():
        groups = {}
        for r in det.get("unverifiable", []):
            key = (r["op"], r["data_dependent"] or "NOT data-dependent")
            groups[key] = groups.get(key, 0) + 1
        if groups:
            print("  %s: %s" % (k, "; ".join("%s (%s) x%d" % (op, dd, c) for (op, dd), c in sorted(groups.items()))))
        bad = [r for r in det.get("unverifiable", []) if not r["data_dependent"] or r.get("false_shared")]
        for r in bad[:6]:
            print("      %s: from %s %s%s" % (r["symbol"], r["op"], r["node"],
                                          "; FALSELY SHARED: " + r["false_shared"] if r.get("false_shared") else ""))
        if len(bad) > 6:
            print("      ... %d more" % (len(bad) - 6))
    failed = [r for r in rows if any(r[c] == "fail" for c in CHECKS)]
    print()
    print("%d rows, %d with a failing check" % (len(rows), len(failed)))
    status = 0
    if args.results:
        old = read_tsv(args.results)
        regressions, better = [], []
        for r in rows:
            o = old.get((r["model"], r["variant"], r["flags"]))
            if not o:
                continue
            for c in CHECKS:
                if o.get(c) == "pass" and r[c] != "pass":
                    regressions.append("%s %s %s: %s was pass, now %s" % (r["model"], r["variant"], r["flags"], c, r[c]))
                elif o.get(c) != "pass" and r[c] == "pass":
                    better.append("%s %s %s: %s now passes" % (r["model"], r["variant"], r["flags"], c))
        for s in better:
            print("improved: " + s)
        for s in regressions:
            print("REGRESSION: " + s)
        if args.update:
            old.update({(r["model"], r["variant"], r["flags"]): r for r in rows})
            write_tsv(args.results, old)
            print("wrote " + args.results)
        elif better:
            print("(run with --update to record the improvements)")
        if regressions:
            status = 1
    sys.exit(status)


if __name__ == "__main__":
    main()
