// The export's .tflite files have a dynamic batch dimension (shape_signature [-1, 784]), which
// LiteRT.js 2.5.3's CompiledModel refuses ("TensorBuffer ranked tensor type Float32[1, 784] does
// not match expected ranked tensor type Float32[-1, 784]") and cannot resize. The page fixes the
// batch to 1 in the flatbuffer's bytes (schema.fbs: Model.subgraphs -> SubGraph.tensors ->
// Tensor.shape_signature): the same model, the same arithmetic, one image per run.

const MODEL_SUBGRAPHS = 2; // Field indices in schema.fbs.
const SUBGRAPH_TENSORS = 0;
const TENSOR_SHAPE_SIGNATURE = 7;

/** The absolute position of a table's field, or 0 if the field is absent. */
function field(view, table, index) {
  const vtable = table - view.getInt32(table, true);
  const slot = 4 + 2 * index;
  if (slot >= view.getUint16(vtable, true)) return 0;
  const offset = view.getUint16(vtable + slot, true);
  return offset ? table + offset : 0;
}

/** The positions of a vector's elements (uint32-sized), given the field's position. */
function elements(view, position) {
  const vector = position + view.getUint32(position, true);
  const count = view.getUint32(vector, true);
  return Array.from({length: count}, (_, i) => vector + 4 + 4 * i);
}

const target = (view, position) => position + view.getUint32(position, true);

/** A copy of the .tflite bytes with every dynamic (-1) dimension of every tensor set to 1. */
export function withBatchOne(bytes) {
  const copy = new Uint8Array(bytes);
  const view = new DataView(copy.buffer);
  const model = view.getUint32(0, true);
  const subgraphs = field(view, model, MODEL_SUBGRAPHS);
  for (const subgraph of elements(view, subgraphs).map((p) => target(view, p))) {
    const tensors = field(view, subgraph, SUBGRAPH_TENSORS);
    for (const tensor of tensors ? elements(view, tensors).map((p) => target(view, p)) : []) {
      const signature = field(view, tensor, TENSOR_SHAPE_SIGNATURE);
      for (const dim of signature ? elements(view, signature) : []) {
        if (view.getInt32(dim, true) === -1) view.setInt32(dim, 1, true);
      }
    }
  }
  return copy;
}
