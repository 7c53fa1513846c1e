package eval

import "github.com/quantprep/quantprep/pipeline/model"

// Attrs is a node's attribute list with typed getters (model.Attrs).
type Attrs = model.Attrs
