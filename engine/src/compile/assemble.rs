//! The compiled playbook: the graph of expanded steps and their compensations, in stages.

use super::for_each::item_labels;
use super::*;

/// Build the graph of expanded steps and their compensations, and group steps into stages.
pub(super) fn assemble<A: Action>(
    raw: &RawPlaybook,
    input_values: Map<String, Value>,
    groups: Vec<CompiledGroup<A>>,
    needs: &[Vec<(usize, usize)>],
    on_failure: Vec<ActionSpec<A>>,
) -> Playbook<A> {
    let mut graph: DiGraph<Node<A>, Edge> = DiGraph::new();
    let mut nodes_of: Vec<Vec<NodeIndex>> = Vec::with_capacity(groups.len());
    let mut steps = Vec::new();
    for (raw_step, group) in raw.steps.iter().zip(&groups) {
        let items: Vec<Option<Value>> = match &group.items {
            Some(items) => items.iter().cloned().map(Some).collect(),
            None => vec![None],
        };
        let labels = item_labels(&items);
        let mut nodes = Vec::with_capacity(items.len());
        for (item, label) in items.into_iter().zip(labels) {
            let id = match label {
                Some(label) => format!("{}[{label}]", raw_step.id.value),
                None => raw_step.id.value.clone(),
            };
            let effect = group.action.effect();
            let index = graph.add_node(Node::Step(Step {
                id,
                origin: raw_step.id.value.clone(),
                item,
                name: raw_step.name.as_ref().map(|n| n.value.clone()),
                action: group.action.clone(),
                when: raw_step.when.as_ref().map(|w| w.value.clone()),
                host: raw_step.host.as_ref().map(|h| h.value.clone()),
                requires: group.requires.clone(),
                timeout: raw_step.timeout.or(raw.defaults.timeout),
                timeout_inherited: raw_step.timeout.is_none() && raw.defaults.timeout.is_some(),
                retry: raw_step
                    .retry
                    .clone()
                    .or_else(|| raw.defaults.retry.clone()),
                idempotent: raw_step.idempotent.unwrap_or(effect == Effect::ReadOnly),
                continue_on_error: raw_step.continue_on_error,
                show: raw_step.show.as_ref().map(|s| {
                    if is_template(&s.value) {
                        Show::Template(s.value.clone())
                    } else {
                        Show::Output(s.value.trim().to_string())
                    }
                }),
                sensitive: raw_step
                    .sensitive
                    .iter()
                    .map(|s| s.value.clone())
                    .chain(
                        A::info(group.action.verb())
                            .into_iter()
                            .flat_map(|info| info.sensitive.iter().map(|s| s.to_string())),
                    )
                    .collect(),
                severity: raw_step.severity,
                stage: 0,
                span: raw_step.span,
            }));
            nodes.push(index);
            steps.push(index);
        }
        if let Some(batch) = group.serial {
            // `serial: N`: each batch of N items waits for the whole previous batch.
            let batches: Vec<&[NodeIndex]> = nodes.chunks(batch).collect();
            for pair in batches.windows(2) {
                for &before in pair[0] {
                    for &after in pair[1] {
                        graph.add_edge(before, after, Edge::Needs);
                    }
                }
            }
        }
        nodes_of.push(nodes);
    }
    for (step, step_needs) in needs.iter().enumerate() {
        for &(need, _) in step_needs {
            for &before in &nodes_of[need] {
                for &after in &nodes_of[step] {
                    graph.add_edge(before, after, Edge::Needs);
                }
            }
        }
    }

    let order =
        petgraph::algo::toposort(&graph, None).expect("cycles were rejected before assembling");
    let mut stage_of = vec![0usize; graph.node_count()];
    for &index in &order {
        let stage = graph
            .neighbors_directed(index, petgraph::Direction::Incoming)
            .map(|pred| stage_of[pred.index()] + 1)
            .max()
            .unwrap_or(0);
        stage_of[index.index()] = stage;
    }
    let stage_count = stage_of.iter().copied().max().map_or(0, |m| m + 1);
    let mut stages = vec![Vec::new(); if steps.is_empty() { 0 } else { stage_count }];
    for &index in &steps {
        let stage = stage_of[index.index()];
        if let Node::Step(step) = &mut graph[index] {
            step.stage = stage;
        }
        stages[stage].push(index);
    }

    for (group, nodes) in groups.iter().zip(&nodes_of) {
        for &index in nodes {
            let (step, item, host) = match &graph[index] {
                Node::Step(s) => (s.id.clone(), s.item.clone(), s.host.clone()),
                Node::Compensation(_) => unreachable!("only steps were added so far"),
            };
            for spec in &group.rollback {
                let comp = graph.add_node(Node::Compensation(Compensation {
                    step: step.clone(),
                    host: host.clone(),
                    item: item.clone(),
                    spec: spec.clone(),
                }));
                graph.add_edge(index, comp, Edge::Rollback);
            }
        }
    }

    Playbook {
        name: raw.name.value.clone(),
        description: raw.description.clone(),
        inputs: raw
            .inputs
            .iter()
            .map(|i| (i.name.value.clone(), i.value.clone()))
            .collect(),
        input_values,
        secrets: raw
            .secrets
            .iter()
            .map(|s| (s.name.value.clone(), s.value.clone()))
            .collect(),
        vars: raw
            .vars
            .iter()
            .map(|v| (v.name.value.clone(), v.value.to_json()))
            .collect(),
        objectives: raw.objectives.as_ref().map(|o| o.value.clone()),
        notify: raw
            .notify
            .as_ref()
            .map(|n| n.value.clone())
            .unwrap_or_default(),
        lock: raw.lock.as_ref().map(|l| l.value.clone()),
        schedules: raw.schedules.iter().map(|s| s.value.clone()).collect(),
        default_timeout: raw.defaults.timeout,
        default_retry: raw.defaults.retry.clone(),
        graph,
        steps,
        stages,
        on_failure,
    }
}
