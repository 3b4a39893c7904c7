// Interactive preview of a surface triangulation ("mesh-preview/1" JSON: flat positions and
// indices), drawn with the project's own copy of three.js. Every element with
// class "mesh-viewer" and a data-preview-url gets one viewer; data-state tells tests and
// people how far it got (loading, loaded, error, no-webgl).
import * as THREE from "three";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";

function setState(element, state, text) {
  element.dataset.state = state;
  const label = element.querySelector(".mesh-viewer-status");
  if (label) label.textContent = text || "";
}

function buildScene(element, canvas) {
  let renderer;
  try {
    renderer = new THREE.WebGLRenderer({ canvas, antialias: true });
  } catch (error) {
    setState(element, "no-webgl", "This browser cannot draw WebGL.");
    return null;
  }
  const width = element.clientWidth || 640;
  const height = element.clientHeight || 420;
  renderer.setPixelRatio(window.devicePixelRatio || 1);
  renderer.setSize(width, height, false);
  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0xf3f5f8);
  const camera = new THREE.PerspectiveCamera(45, width / height, 0.01, 1e7);
  scene.add(new THREE.HemisphereLight(0xffffff, 0x8090a0, 1.2));
  const light = new THREE.DirectionalLight(0xffffff, 1.5);
  camera.add(light);
  scene.add(camera);
  const controls = new OrbitControls(camera, canvas);
  controls.enableDamping = true;
  const draw = () => {
    controls.update();
    renderer.render(scene, camera);
    requestAnimationFrame(draw);
  };
  requestAnimationFrame(draw);
  return { scene, camera, controls };
}

function addMesh(view, data) {
  const geometry = new THREE.BufferGeometry();
  geometry.setAttribute("position", new THREE.Float32BufferAttribute(data.positions, 3));
  geometry.setIndex(data.indices);
  geometry.computeVertexNormals();
  geometry.computeBoundingSphere();
  const surface = new THREE.Mesh(
    geometry,
    new THREE.MeshStandardMaterial({ color: 0x5b8bd9, flatShading: true, side: THREE.DoubleSide, polygonOffset: true, polygonOffsetFactor: 1 })
  );
  const edges = new THREE.LineSegments(new THREE.WireframeGeometry(geometry), new THREE.LineBasicMaterial({ color: 0x1d2330, transparent: true, opacity: 0.25 }));
  view.scene.add(surface, edges);
  const { center, radius } = geometry.boundingSphere;
  view.controls.target.copy(center);
  view.camera.position.set(center.x + radius * 1.6, center.y + radius * 1.2, center.z + radius * 1.9);
  view.camera.near = radius / 100;
  view.camera.far = radius * 100;
  view.camera.updateProjectionMatrix();
}

async function start(element) {
  const canvas = element.querySelector("canvas");
  const url = element.dataset.previewUrl;
  const view = buildScene(element, canvas);
  if (!view) return;
  if (!url) {
    setState(element, "waiting", "The preview is not ready yet.");
    return;
  }
  setState(element, "loading", "Loading the preview…");
  try {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const data = await response.json();
    addMesh(view, data);
    element.dataset.triangles = String(data.triangle_count);
    setState(element, "loaded", `${data.triangle_count.toLocaleString()} triangles (preview)`);
  } catch (error) {
    setState(element, "error", `The preview could not be loaded: ${error.message}`);
  }
}

document.querySelectorAll(".mesh-viewer").forEach(start);
