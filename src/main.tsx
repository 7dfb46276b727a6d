import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './ui/App.tsx';
import { PromptSetPage } from './ui/PromptSetPage.tsx';
import './ui/styles.css';

// ?view=prompts: the prompt-set editor on its own (no engine); anything else is the playground.
const view = new URLSearchParams(location.search).get('view');

createRoot(document.getElementById('root')!).render(<StrictMode>{view === 'prompts' ? <PromptSetPage /> : <App />}</StrictMode>);
