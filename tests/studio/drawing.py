"""Drawing on a Gradio image editor's canvas in headless Chromium, as a person does with the mouse."""


def draw_stroke(page, canvas, start: tuple[float, float], end: tuple[float, float], steps: int) -> None:
    """One mouse stroke on `canvas` (a Playwright locator) from `start` to `end`, given in pixels from
    the canvas's centre (the editor centres its drawing area), in `steps` moves: each move repaints the
    editor's canvas in software here, so fewer is cheaper."""
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx + start[0], cy + start[1])
    page.mouse.down()
    page.mouse.move(cx + end[0], cy + end[1], steps=steps)
    page.mouse.up()
