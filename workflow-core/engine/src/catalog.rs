//! Workflow definitions: validated before they are stored, compiled once per process.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rex_core::Workflow;
use rex_core::definition::{canonical_json, content_hash};
use rex_core::validate::{ValidateOptions, load};
use rex_store::entity::definitions;
use rex_store::{NewDefinition, PutDefinition, Store};
use uuid::Uuid;

use crate::EngineError;

/// Stores definitions and hands out their compiled [`Workflow`]s.
///
/// A stored version is immutable, so a compiled workflow is cached for the life of the
/// process, keyed by the definition row's id. Which version is the latest of a name is
/// remembered for [`LATEST_TTL`]: a version pushed through this catalog is the latest
/// at once, one pushed by another process within that time (pin the version to start
/// it sooner).
#[derive(Clone)]
pub struct Catalog {
    store: Store,
    options: Arc<ValidateOptions>,
    cache: Arc<RwLock<HashMap<Uuid, Arc<Workflow>>>>,
    /// One-step workflows of task fan-out items, by (parent definition id, step id).
    items: Arc<RwLock<ItemWorkflows>>,
    /// Stored rows by (name, version): immutable once stored.
    pinned: Arc<RwLock<HashMap<(String, i32), Registered>>>,
    /// The latest version of each name, and when it was read from the store.
    latest: Arc<RwLock<HashMap<String, (Instant, Registered)>>>,
}

/// How long "the latest version of a name" is answered from memory. Starting a mission
/// by name is the API's hot path; a version another process pushes is picked up by
/// this one within this time.
pub const LATEST_TTL: Duration = Duration::from_secs(2);

/// One-step workflows of task fan-out items, by (parent definition id, step id).
type ItemWorkflows = HashMap<(Uuid, String), Arc<Workflow>>;

/// A definition as stored, with its compiled form.
#[derive(Debug, Clone)]
pub struct Registered {
    pub row: definitions::Model,
    pub workflow: Arc<Workflow>,
    /// False when an identical version was already stored.
    pub created: bool,
}

impl Catalog {
    /// `options` govern new definitions (e.g. the agents this deployment knows).
    pub fn new(store: Store, options: ValidateOptions) -> Self {
        Self {
            store,
            options: Arc::new(options),
            cache: Arc::default(),
            items: Arc::default(),
            pinned: Arc::default(),
            latest: Arc::default(),
        }
    }

    /// The rules new definitions are validated with (e.g. the agents this deployment
    /// knows), for callers that want the structured problems of
    /// [`rex_core::validate::load`] rather than [`EngineError::Invalid`]'s text.
    pub fn options(&self) -> &ValidateOptions {
        &self.options
    }

    /// Validates a definition without storing it.
    pub fn check(&self, bytes: &[u8], file: Option<&str>) -> Result<Workflow, EngineError> {
        load(bytes, file, &self.options)
            .map(|(_, workflow)| workflow)
            .map_err(|e| EngineError::Invalid(e.to_string()))
    }

    /// Validates and stores a definition. Storing the same version twice with the same
    /// content is a no-op; with other content it is an error (versions are immutable).
    pub async fn push(&self, bytes: &[u8], file: Option<&str>) -> Result<Registered, EngineError> {
        let (raw, workflow) =
            load(bytes, file, &self.options).map_err(|e| EngineError::Invalid(e.to_string()))?;
        self.check_children(&workflow).await?;
        let body = canonical_json(&raw);
        let put = self
            .store
            .put_definition(NewDefinition {
                name: workflow.name.clone(),
                version: workflow.version as i32,
                description: workflow.description.clone(),
                content_hash: content_hash(&body),
                body,
            })
            .await?;
        let (row, created) = match put {
            PutDefinition::Created(row) => (row, true),
            PutDefinition::Unchanged(row) => (row, false),
        };
        let workflow = Arc::new(workflow);
        self.cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(row.id, workflow.clone());
        // the next "latest" lookup of this name reads the store again
        self.latest
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&row.name);
        Ok(Registered {
            row,
            workflow,
            created,
        })
    }

    /// Every child workflow a definition names must be stored already (at the pinned
    /// version when there is one), and may not be the definition itself.
    async fn check_children(&self, workflow: &Workflow) -> Result<(), EngineError> {
        for (i, name, version) in workflow.child_workflows() {
            let step = &workflow.steps[i].id;
            if name == workflow.name {
                return Err(EngineError::Invalid(format!(
                    "steps[{i}] ({step}).workflow: {name:?} cannot start itself as a child"
                )));
            }
            let found = self
                .store
                .get_definition(name, version.map(|v| v as i32))
                .await?;
            if found.is_none() {
                let which = version.map_or_else(|| "any version".to_owned(), |v| format!("v{v}"));
                return Err(EngineError::Invalid(format!(
                    "steps[{i}] ({step}).workflow: no stored definition {name:?} ({which}); \
                     push the child workflow first"
                )));
            }
        }
        Ok(())
    }

    /// The definition `name` at `version` (the latest when `None`). A pinned version
    /// is immutable, so after its first lookup it is answered from memory; "latest"
    /// is read from the store again after [`LATEST_TTL`], since another process may
    /// push a newer one.
    pub async fn get(&self, name: &str, version: Option<i32>) -> Result<Registered, EngineError> {
        match version {
            Some(v) => {
                if let Some(hit) = self
                    .pinned
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&(name.to_owned(), v))
                {
                    return Ok(hit.clone());
                }
            }
            None => {
                if let Some((read_at, hit)) = self
                    .latest
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(name)
                    && read_at.elapsed() < LATEST_TTL
                {
                    return Ok(hit.clone());
                }
            }
        }
        let row = self
            .store
            .get_definition(name, version)
            .await?
            .ok_or_else(|| EngineError::DefinitionNotFound {
                name: name.to_owned(),
                version: version.map_or_else(|| "latest".to_owned(), |v| v.to_string()),
            })?;
        let workflow = self.compile(&row)?;
        let registered = Registered {
            row,
            workflow,
            created: false,
        };
        self.pinned
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                (name.to_owned(), registered.row.version),
                registered.clone(),
            );
        if version.is_none() {
            self.latest
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.to_owned(), (Instant::now(), registered.clone()));
        }
        Ok(registered)
    }

    /// The compiled workflow of a stored definition row id.
    pub async fn workflow(&self, definition_id: Uuid) -> Result<Arc<Workflow>, EngineError> {
        if let Some(wf) = self.cached(definition_id) {
            return Ok(wf);
        }
        let row = self
            .store
            .get_definition_by_id(definition_id)
            .await?
            .ok_or_else(|| EngineError::Corrupt(format!("definition {definition_id} missing")))?;
        self.compile(&row)
    }

    /// The workflow a mission runs: its definition's, or for an item mission of a task
    /// fan-out (`item_step`), the one-step workflow of that step.
    pub async fn mission_workflow(
        &self,
        definition_id: Uuid,
        item_step: Option<&str>,
    ) -> Result<Arc<Workflow>, EngineError> {
        let Some(step) = item_step else {
            return self.workflow(definition_id).await;
        };
        let key = (definition_id, step.to_owned());
        if let Some(wf) = self
            .items
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(wf.clone());
        }
        let parent = self.workflow(definition_id).await?;
        let item = parent
            .step_index(step)
            .and_then(|i| parent.item_workflow(i))
            .ok_or_else(|| {
                EngineError::Corrupt(format!(
                    "{} v{} has no task fan-out step {step:?}",
                    parent.name, parent.version
                ))
            })?;
        let item = Arc::new(item);
        self.items
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, item.clone());
        Ok(item)
    }

    fn cached(&self, id: Uuid) -> Option<Arc<Workflow>> {
        self.cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    fn compile(&self, row: &definitions::Model) -> Result<Arc<Workflow>, EngineError> {
        if let Some(wf) = self.cached(row.id) {
            return Ok(wf);
        }
        // A stored body was valid when stored; agents known then may be gone now, and
        // the mission must still run with the version it started with.
        let lenient = ValidateOptions {
            known_agents: None,
            ..(*self.options).clone()
        };
        let (_, workflow) = load(row.body.as_bytes(), Some(&row.name), &lenient).map_err(|e| {
            EngineError::Corrupt(format!(
                "stored definition {} v{} no longer validates: {e}",
                row.name, row.version
            ))
        })?;
        let workflow = Arc::new(workflow);
        self.cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(row.id, workflow.clone());
        Ok(workflow)
    }
}
